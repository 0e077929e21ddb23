#include "data/image_encode.h"

#include <jpeglib.h>

#include <algorithm>
#include <csetjmp>
#include <cstdlib>

#include "core/errors.h"

namespace transfix {

namespace {

struct EncodeState {
  jpeg_error_mgr err{};
  std::jmp_buf jump{};
  char message[JMSG_LENGTH_MAX] = {};
};

void on_encode_error(j_common_ptr cinfo) {
  auto* s = reinterpret_cast<EncodeState*>(cinfo->client_data);
  (*cinfo->err->format_message)(cinfo, s->message);
  std::longjmp(s->jump, 1);
}

}  // namespace

std::string encode_jpeg(const Image& image, int quality) {
  if (image.width <= 0 || image.height <= 0 || (image.channels != 1 && image.channels != 3) ||
      image.pixels.size() != static_cast<size_t>(image.width) * image.height * image.channels)
    throw InputError("encode_jpeg: not an 8-bit gray or RGB image");
  EncodeState state;
  jpeg_compress_struct c{};
  c.err = jpeg_std_error(&state.err);
  state.err.error_exit = on_encode_error;
  c.client_data = &state;
  unsigned char* buffer = nullptr;  // malloc'ed by libjpeg; freed on both paths
  unsigned long size = 0;
  if (setjmp(state.jump)) {
    jpeg_destroy_compress(&c);
    std::free(buffer);
    throw InputError(std::string("encode_jpeg: ") + state.message);
  }
  jpeg_create_compress(&c);
  jpeg_mem_dest(&c, &buffer, &size);
  c.image_width = static_cast<JDIMENSION>(image.width);
  c.image_height = static_cast<JDIMENSION>(image.height);
  c.input_components = image.channels;
  c.in_color_space = image.channels == 1 ? JCS_GRAYSCALE : JCS_RGB;
  jpeg_set_defaults(&c);
  jpeg_set_quality(&c, std::clamp(quality, 1, 100), TRUE);
  jpeg_start_compress(&c, TRUE);
  const size_t row_bytes = static_cast<size_t>(image.width) * image.channels;
  while (c.next_scanline < c.image_height) {
    JSAMPROW row = const_cast<uint8_t*>(image.pixels.data()) + c.next_scanline * row_bytes;
    jpeg_write_scanlines(&c, &row, 1);
  }
  jpeg_finish_compress(&c);
  std::string out(reinterpret_cast<const char*>(buffer), size);
  jpeg_destroy_compress(&c);
  std::free(buffer);
  return out;
}

std::string base64_encode(const std::string& bytes) {
  static const char* kAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  out.reserve((bytes.size() + 2) / 3 * 4);
  size_t i = 0;
  for (; i + 2 < bytes.size(); i += 3) {
    const uint32_t v = static_cast<uint8_t>(bytes[i]) << 16 | static_cast<uint8_t>(bytes[i + 1]) << 8 |
                       static_cast<uint8_t>(bytes[i + 2]);
    for (int shift : {18, 12, 6, 0}) out += kAlphabet[v >> shift & 63];
  }
  if (i + 1 == bytes.size()) {
    const uint32_t v = static_cast<uint8_t>(bytes[i]) << 16;
    out += kAlphabet[v >> 18 & 63], out += kAlphabet[v >> 12 & 63], out += "==";
  } else if (i + 2 == bytes.size()) {
    const uint32_t v = static_cast<uint8_t>(bytes[i]) << 16 | static_cast<uint8_t>(bytes[i + 1]) << 8;
    out += kAlphabet[v >> 18 & 63], out += kAlphabet[v >> 12 & 63], out += kAlphabet[v >> 6 & 63], out += '=';
  }
  return out;
}

std::string thumbnail_data_uri(const Image& image, int max_side, int quality) {
  const int longer = std::max(image.width, image.height);
  Image small = image;
  if (longer > max_side) {
    const int w = std::max(1, image.width * max_side / longer), h = std::max(1, image.height * max_side / longer);
    small = resize_bilinear_pil(image, w, h);
  }
  return "data:image/jpeg;base64," + base64_encode(encode_jpeg(small, quality));
}

}  // namespace transfix
