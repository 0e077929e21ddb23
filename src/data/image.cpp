#include "data/image.h"

#include <jpeglib.h>
// jerror.h after jpeglib.h: the message codes (JWRN_JPEG_EOF)
#include <jerror.h>
#include <png.h>

#include <algorithm>
#include <cmath>
#include <csetjmp>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>
#include <sstream>

#include "core/errors.h"
#include "core/thread_pool.h"

namespace transfix {

namespace {

// Decoded images larger than this are refused (a hostile header cannot make us allocate gigabytes).
constexpr int64_t kMaxImagePixels = int64_t{1} << 28;  // 268 M pixels
constexpr int kMaxImageSide = 1 << 16;

// ---------------------------------------------------------------- PNG (libpng, classic API)

struct PngState {
  const std::string* bytes = nullptr;
  size_t pos = 0;
  std::string error;
  std::vector<uint8_t> raw;
  std::vector<png_bytep> rows;
  Image image;
};

void png_read_from_memory(png_structp png, png_bytep out, png_size_t n) {
  auto* s = static_cast<PngState*>(png_get_io_ptr(png));
  if (n > s->bytes->size() - s->pos) png_error(png, "file is truncated");
  std::memcpy(out, s->bytes->data() + s->pos, n);
  s->pos += n;
}

void png_on_error(png_structp png, png_const_charp message) {
  static_cast<PngState*>(png_get_error_ptr(png))->error = message ? message : "unknown error";
  png_longjmp(png, 1);
}

void png_on_warning(png_structp, png_const_charp) {}

const char* png_mode(int color_type, int depth) {
  switch (color_type) {
    case PNG_COLOR_TYPE_GRAY: return depth == 16 ? "gray16" : "gray";
    case PNG_COLOR_TYPE_GRAY_ALPHA: return depth == 16 ? "gray16+alpha" : "gray+alpha";
    case PNG_COLOR_TYPE_RGB: return depth == 16 ? "rgb16" : "rgb";
    case PNG_COLOR_TYPE_RGB_ALPHA: return depth == 16 ? "rgba16" : "rgba";
    case PNG_COLOR_TYPE_PALETTE: return "palette";
    default: return "unknown";
  }
}

// Interleaved 1-4 channel 8-bit pixels -> RGB: gray replicated, alpha dropped (PIL convert("RGB")).
void to_rgb(const uint8_t* src, int src_channels, int64_t pixels, uint8_t* dst) {
  for (int64_t i = 0; i < pixels; ++i, src += src_channels, dst += 3) {
    if (src_channels >= 3) {
      dst[0] = src[0], dst[1] = src[1], dst[2] = src[2];
    } else {
      dst[0] = dst[1] = dst[2] = src[0];
    }
  }
}

Image decode_png(const std::string& bytes, const std::string& label) {
  auto state = std::make_unique<PngState>();
  PngState* s = state.get();  // never reassigned: safe to use after longjmp
  s->bytes = &bytes;
  png_structp png = png_create_read_struct(PNG_LIBPNG_VER_STRING, s, png_on_error, png_on_warning);
  if (!png) throw InputError(label + ": cannot initialize libpng");
  png_infop info = png_create_info_struct(png);
  if (!info) {
    png_destroy_read_struct(&png, nullptr, nullptr);
    throw InputError(label + ": cannot initialize libpng");
  }
  if (setjmp(png_jmpbuf(png))) {
    png_destroy_read_struct(&png, &info, nullptr);
    throw InputError(label + ": bad PNG: " + s->error);
  }
  png_set_read_fn(png, s, png_read_from_memory);
  png_set_user_limits(png, kMaxImageSide, kMaxImageSide);
  png_read_info(png, info);
  int color = png_get_color_type(png, info);
  int depth = png_get_bit_depth(png, info);
  s->image.mode = png_mode(color, depth);
  if (color == PNG_COLOR_TYPE_PALETTE) png_set_palette_to_rgb(png);
  if (color == PNG_COLOR_TYPE_GRAY && depth < 8) png_set_expand_gray_1_2_4_to_8(png);
  if (depth == 16) png_set_strip_16(png);  // high byte, as PIL does for RGB;16B
  png_set_interlace_handling(png);
  png_read_update_info(png, info);
  int64_t width = png_get_image_width(png, info), height = png_get_image_height(png, info);
  int channels = png_get_channels(png, info);
  size_t row_bytes = png_get_rowbytes(png, info);
  if (width <= 0 || height <= 0 || width > kMaxImageSide || height > kMaxImageSide ||
      width * height > kMaxImagePixels || channels < 1 || channels > 4 ||
      row_bytes != static_cast<size_t>(width * channels))
    png_error(png, "unsupported image size or layout");
  s->raw.resize(static_cast<size_t>(height) * row_bytes);
  s->rows.resize(static_cast<size_t>(height));
  for (int64_t y = 0; y < height; ++y) s->rows[y] = s->raw.data() + y * row_bytes;
  png_read_image(png, s->rows.data());
  png_destroy_read_struct(&png, &info, nullptr);

  Image& img = s->image;
  img.width = static_cast<int>(width);
  img.height = static_cast<int>(height);
  img.channels = 3;
  img.pixels.resize(static_cast<size_t>(width * height * 3));
  to_rgb(s->raw.data(), channels, width * height, img.pixels.data());
  return std::move(img);
}

// ---------------------------------------------------------------- JPEG (libjpeg)

struct JpegState {
  jpeg_decompress_struct cinfo{};
  jpeg_error_mgr err{};
  std::jmp_buf jump{};
  char message[JMSG_LENGTH_MAX] = {};
  bool truncated = false;
  std::vector<uint8_t> raw;
  Image image;
};

void jpeg_on_error(j_common_ptr cinfo) {
  auto* s = reinterpret_cast<JpegState*>(cinfo->client_data);
  (*cinfo->err->format_message)(cinfo, s->message);
  std::longjmp(s->jump, 1);
}

// Warnings are ignored (like PIL) except premature end of data: PIL refuses truncated files.
void jpeg_on_message(j_common_ptr cinfo, int level) {
  if (level < 0 && cinfo->err->msg_code == JWRN_JPEG_EOF)
    reinterpret_cast<JpegState*>(cinfo->client_data)->truncated = true;
}

// PIL's MULDIV255: a * b / 255 rounded, in integers.
inline int muldiv255(int a, int b) {
  int t = a * b + 128;
  return ((t >> 8) + t) >> 8;
}

// PIL cmyk2rgb: R = (255 - K) - C * (255 - K) / 255, ...
void cmyk_to_rgb(const uint8_t* cmyk, bool adobe_inverted, int64_t pixels, uint8_t* rgb) {
  for (int64_t i = 0; i < pixels; ++i, cmyk += 4, rgb += 3) {
    int v[4];
    for (int c = 0; c < 4; ++c) v[c] = adobe_inverted ? 255 - cmyk[c] : cmyk[c];
    int nk = 255 - v[3];
    for (int c = 0; c < 3; ++c) rgb[c] = static_cast<uint8_t>(std::clamp(nk - muldiv255(v[c], nk), 0, 255));
  }
}

Image decode_jpeg(const std::string& bytes, const std::string& label) {
  auto state = std::make_unique<JpegState>();
  JpegState* s = state.get();  // never reassigned: safe to use after longjmp
  jpeg_decompress_struct* cinfo = &s->cinfo;
  cinfo->err = jpeg_std_error(&s->err);
  s->err.error_exit = jpeg_on_error;
  s->err.emit_message = jpeg_on_message;
  cinfo->client_data = s;
  if (setjmp(s->jump)) {
    jpeg_destroy_decompress(cinfo);
    throw InputError(label + ": bad JPEG: " + s->message);
  }
  jpeg_create_decompress(cinfo);
  cinfo->client_data = s;
  jpeg_mem_src(cinfo, reinterpret_cast<const unsigned char*>(bytes.data()), static_cast<unsigned long>(bytes.size()));
  jpeg_read_header(cinfo, TRUE);
  switch (cinfo->jpeg_color_space) {
    case JCS_GRAYSCALE: cinfo->out_color_space = JCS_GRAYSCALE, s->image.mode = "gray"; break;
    case JCS_CMYK: cinfo->out_color_space = JCS_CMYK, s->image.mode = "cmyk"; break;
    case JCS_YCCK: cinfo->out_color_space = JCS_CMYK, s->image.mode = "ycck"; break;
    default: cinfo->out_color_space = JCS_RGB, s->image.mode = "rgb"; break;
  }
  int64_t width = cinfo->image_width, height = cinfo->image_height;
  if (width <= 0 || height <= 0 || width > kMaxImageSide || height > kMaxImageSide || width * height > kMaxImagePixels) {
    std::snprintf(s->message, sizeof s->message, "image size %lldx%lld is out of range", static_cast<long long>(width),
                  static_cast<long long>(height));
    std::longjmp(s->jump, 1);
  }
  jpeg_start_decompress(cinfo);
  int channels = cinfo->output_components;
  size_t row_bytes = static_cast<size_t>(cinfo->output_width) * channels;
  s->raw.resize(row_bytes * cinfo->output_height);
  while (cinfo->output_scanline < cinfo->output_height) {
    JSAMPROW row = s->raw.data() + row_bytes * cinfo->output_scanline;
    jpeg_read_scanlines(cinfo, &row, 1);
  }
  bool adobe = cinfo->saw_Adobe_marker;
  width = cinfo->output_width, height = cinfo->output_height;
  jpeg_finish_decompress(cinfo);
  jpeg_destroy_decompress(cinfo);
  if (s->truncated) throw InputError(label + ": bad JPEG: file is truncated");

  Image& img = s->image;
  img.width = static_cast<int>(width);
  img.height = static_cast<int>(height);
  img.channels = 3;
  img.pixels.resize(static_cast<size_t>(width * height * 3));
  if (channels == 4) cmyk_to_rgb(s->raw.data(), adobe, width * height, img.pixels.data());
  else to_rgb(s->raw.data(), channels, width * height, img.pixels.data());
  return std::move(img);
}

// ---------------------------------------------------------------- PIL resampling (Resample.c)

constexpr int kPrecisionBits = 32 - 8 - 2;

double bilinear_filter(double x) {
  x = std::fabs(x);
  return x < 1.0 ? 1.0 - x : 0.0;
}

// For each output pixel: first input pixel, count, and fixed-point weights (ksize per pixel).
struct ResampleCoeffs {
  int ksize = 0;
  std::vector<int> first, count;
  std::vector<int32_t> weights;
};

// precompute_coeffs + normalize_coeffs_8bpc. The filter widens by the downscale factor (antialias).
ResampleCoeffs precompute_coeffs(int in_size, int out_size) {
  double scale = static_cast<double>(in_size) / out_size;
  double filterscale = std::max(scale, 1.0);
  double support = 1.0 * filterscale;  // bilinear support is 1
  ResampleCoeffs c;
  c.ksize = static_cast<int>(std::ceil(support)) * 2 + 1;
  c.first.resize(out_size);
  c.count.resize(out_size);
  c.weights.assign(static_cast<size_t>(out_size) * c.ksize, 0);
  std::vector<double> k(c.ksize);
  for (int xx = 0; xx < out_size; ++xx) {
    double center = (xx + 0.5) * scale;
    double ss = 1.0 / filterscale;
    int xmin = std::max(static_cast<int>(center - support + 0.5), 0);
    int xmax = std::min(static_cast<int>(center + support + 0.5), in_size) - xmin;
    double ww = 0.0;
    for (int x = 0; x < xmax; ++x) {
      k[x] = bilinear_filter((x + xmin - center + 0.5) * ss);
      ww += k[x];
    }
    for (int x = 0; x < xmax; ++x) {
      double w = ww != 0.0 ? k[x] / ww : k[x];
      c.weights[static_cast<size_t>(xx) * c.ksize + x] =
          static_cast<int32_t>(w < 0 ? -0.5 + w * (1 << kPrecisionBits) : 0.5 + w * (1 << kPrecisionBits));
    }
    c.first[xx] = xmin;
    c.count[xx] = xmax;
  }
  return c;
}

inline uint8_t clip8(int32_t v) {
  if (v >= (1 << kPrecisionBits << 8)) return 255;
  if (v <= 0) return 0;
  return static_cast<uint8_t>(v >> kPrecisionBits);
}

// A rectangle of pixels: columns [x0, x1), rows [y0, y1).
struct Window {
  int x0, y0, x1, y1;
};

// Horizontal pass for output columns [w.x0, w.x1) of input rows [w.y0, w.y1). Accumulators are
// 32-bit as in PIL: bilinear weights are non-negative and sum to about 2^kPrecisionBits, so
// 255 * sum < 2^31.
Image resample_horizontal(const Image& in, const ResampleCoeffs& c, Window w) {
  const int channels = in.channels, out_width = w.x1 - w.x0;
  Image out{out_width, w.y1 - w.y0, channels, {}, in.mode};
  out.pixels.resize(static_cast<size_t>(out_width) * out.height * channels);
  // Rows are independent: both cores share them (a large photo's resize costs as much as a
  // mobilenet inference; compare decodes one image per sample).
  parallel_for(out.height, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      const uint8_t* row = &in.pixels[static_cast<size_t>(r + w.y0) * in.width * channels];
      uint8_t* dst = &out.pixels[static_cast<size_t>(r) * out_width * channels];
      for (int xx = w.x0; xx < w.x1; ++xx) {
        const int32_t* k = &c.weights[static_cast<size_t>(xx) * c.ksize];
        const uint8_t* src = row + static_cast<size_t>(c.first[xx]) * channels;
        const int count = c.count[xx];
        if (channels == 3) {
          int32_t s0 = 1 << (kPrecisionBits - 1), s1 = s0, s2 = s0;
          for (int x = 0; x < count; ++x, src += 3) {
            s0 += src[0] * k[x];
            s1 += src[1] * k[x];
            s2 += src[2] * k[x];
          }
          dst[0] = clip8(s0), dst[1] = clip8(s1), dst[2] = clip8(s2);
          dst += 3;
          continue;
        }
        for (int ch = 0; ch < channels; ++ch, ++dst) {
          int32_t ss = 1 << (kPrecisionBits - 1);
          for (int x = 0; x < count; ++x) ss += src[x * channels + ch] * k[x];
          *dst = clip8(ss);
        }
      }
    }
  }, 16);
  return out;
}

// Vertical pass for output rows [yy0, yy1); row r of `in` is input row r + row_offset.
Image resample_vertical(const Image& in, const ResampleCoeffs& c, int yy0, int yy1, int row_offset) {
  const size_t row_size = static_cast<size_t>(in.width) * in.channels;
  Image out{in.width, yy1 - yy0, in.channels, {}, in.mode};
  out.pixels.resize(row_size * out.height);
  // Each output row is a weighted sum of whole input rows: contiguous, vectorizable loops.
  parallel_for(out.height, [&](int64_t r0, int64_t r1) {
    std::vector<int32_t> acc(row_size);
    for (int64_t r = r0; r < r1; ++r) {
      const int yy = static_cast<int>(r) + yy0;
      const int32_t* k = &c.weights[static_cast<size_t>(yy) * c.ksize];
      std::fill(acc.begin(), acc.end(), 1 << (kPrecisionBits - 1));
      for (int y = 0; y < c.count[yy]; ++y) {
        const uint8_t* src = &in.pixels[static_cast<size_t>(y + c.first[yy] - row_offset) * row_size];
        const int32_t wt = k[y];
        for (size_t i = 0; i < row_size; ++i) acc[i] += src[i] * wt;
      }
      uint8_t* dst = &out.pixels[static_cast<size_t>(r) * row_size];
      for (size_t i = 0; i < row_size; ++i) dst[i] = clip8(acc[i]);
    }
  }, 16);
  return out;
}

Image crop_inside(const Image& in, Window w) {
  Image out{w.x1 - w.x0, w.y1 - w.y0, in.channels, {}, in.mode};
  const size_t row = static_cast<size_t>(out.width) * in.channels;
  out.pixels.resize(row * out.height);
  for (int y = w.y0; y < w.y1; ++y)
    std::memcpy(&out.pixels[(y - w.y0) * row], &in.pixels[(static_cast<size_t>(y) * in.width + w.x0) * in.channels], row);
  return out;
}

// The pixels inside `w` of PIL's resize to out_width x out_height, computing only what they need:
// a resize followed by a center crop skips the cropped-away rows and columns. Each output pixel
// depends only on its own taps, so the window is bit-identical to cropping the full resize.
Image resize_bilinear_window(const Image& in, int out_width, int out_height, Window w) {
  // Horizontal pass first, then vertical, each rounded to 8 bits (ImagingResampleInner).
  ResampleCoeffs rows = precompute_coeffs(in.height, out_height);
  bool vertical = out_height != in.height;
  // Input rows that the window's output rows read.
  int first_row = vertical ? rows.first[w.y0] : w.y0, end_row = w.y1;
  if (vertical) {
    end_row = first_row;
    for (int yy = w.y0; yy < w.y1; ++yy) {
      first_row = std::min(first_row, rows.first[yy]);
      end_row = std::max(end_row, rows.first[yy] + rows.count[yy]);
    }
  }
  Window band{w.x0, first_row, w.x1, end_row};
  Image tmp = out_width != in.width ? resample_horizontal(in, precompute_coeffs(in.width, out_width), band)
                                    : crop_inside(in, band);
  return vertical ? resample_vertical(tmp, rows, w.y0, w.y1, first_row) : tmp;
}

void check_target_size(int w, int h) {
  check_input(w > 0 && h > 0 && w <= kMaxImageSide && h <= kMaxImageSide && int64_t{w} * h <= kMaxImagePixels,
              "resize: target size " + std::to_string(w) + "x" + std::to_string(h) + " is out of range");
}

std::string lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

}  // namespace

// ---------------------------------------------------------------- public: decoding

Image decode_image(const std::string& bytes, const std::string& label) {
  static const unsigned char kPng[] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
  if (bytes.size() >= 8 && std::memcmp(bytes.data(), kPng, 8) == 0) return decode_png(bytes, label);
  if (bytes.size() >= 3 && static_cast<unsigned char>(bytes[0]) == 0xFF && static_cast<unsigned char>(bytes[1]) == 0xD8 &&
      static_cast<unsigned char>(bytes[2]) == 0xFF)
    return decode_jpeg(bytes, label);
  throw InputError(label + ": not a PNG or JPEG image");
}

Image read_image(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) throw InputError(path + ": cannot open file");
  std::ostringstream ss;
  ss << f.rdbuf();
  return decode_image(ss.str(), path);
}

bool has_image_extension(const std::string& path) {
  static const char* kExt[] = {".png", ".jpg", ".jpeg", ".jpe", ".bmp", ".gif", ".webp", ".tif", ".tiff", ".ppm", ".pgm"};
  std::string ext = lower(std::filesystem::path(path).extension().string());
  return std::any_of(std::begin(kExt), std::end(kExt), [&](const char* e) { return ext == e; });
}

// ---------------------------------------------------------------- public: geometry

Image resize_bilinear_pil(const Image& in, int out_width, int out_height) {
  check_target_size(out_width, out_height);
  return resize_bilinear_window(in, out_width, out_height, {0, 0, out_width, out_height});
}

Image resize_nearest_pil(const Image& in, int out_width, int out_height) {
  check_target_size(out_width, out_height);
  Image out{out_width, out_height, in.channels, {}, in.mode};
  out.pixels.resize(static_cast<size_t>(out_width) * out_height * in.channels);
  double sx = static_cast<double>(in.width) / out_width, sy = static_cast<double>(in.height) / out_height;
  for (int y = 0; y < out_height; ++y) {
    int iy = std::min(static_cast<int>((y + 0.5) * sy), in.height - 1);
    for (int x = 0; x < out_width; ++x) {
      int ix = std::min(static_cast<int>((x + 0.5) * sx), in.width - 1);
      for (int c = 0; c < in.channels; ++c)
        out.pixels[(static_cast<size_t>(y) * out_width + x) * in.channels + c] = in.at(ix, iy, c);
    }
  }
  return out;
}

namespace {
// torchvision: int(round((size - crop) / 2.0)) -- Python rounds half to even, as nearbyint does;
// a crop larger than the image pads (crop - size) // 2 zeros on the left/top first.
int crop_offset(int size, int crop) {
  int d = size - crop;
  return d >= 0 ? static_cast<int>(std::nearbyint(d / 2.0)) : -((-d) / 2);
}
}  // namespace

Image center_crop(const Image& in, int crop_width, int crop_height) {
  check_target_size(crop_width, crop_height);
  int left = crop_offset(in.width, crop_width), top = crop_offset(in.height, crop_height);
  Image out{crop_width, crop_height, in.channels, {}, in.mode};
  out.pixels.assign(static_cast<size_t>(crop_width) * crop_height * in.channels, 0);
  for (int y = 0; y < crop_height; ++y) {
    int sy = y + top;
    if (sy < 0 || sy >= in.height) continue;
    for (int x = 0; x < crop_width; ++x) {
      int sx = x + left;
      if (sx < 0 || sx >= in.width) continue;
      for (int c = 0; c < in.channels; ++c)
        out.pixels[(static_cast<size_t>(y) * crop_width + x) * in.channels + c] = in.at(sx, sy, c);
    }
  }
  return out;
}

Image resize_bilinear_pil_center_crop(const Image& in, int out_width, int out_height, int crop_width, int crop_height) {
  check_target_size(out_width, out_height);
  check_target_size(crop_width, crop_height);
  if (crop_width > out_width || crop_height > out_height)  // padding crop: resize everything
    return center_crop(resize_bilinear_pil(in, out_width, out_height), crop_width, crop_height);
  int left = crop_offset(out_width, crop_width), top = crop_offset(out_height, crop_height);
  return resize_bilinear_window(in, out_width, out_height, {left, top, left + crop_width, top + crop_height});
}

Image to_grayscale(const Image& rgb) {
  if (rgb.channels == 1) return rgb;
  Image out{rgb.width, rgb.height, 1, {}, rgb.mode};
  out.pixels.resize(static_cast<size_t>(rgb.width) * rgb.height);
  for (size_t i = 0; i < out.pixels.size(); ++i) {
    const uint8_t* p = &rgb.pixels[i * 3];
    out.pixels[i] = static_cast<uint8_t>((p[0] * 19595 + p[1] * 38470 + p[2] * 7471 + 0x8000) >> 16);
  }
  return out;
}

std::array<int, 2> shorter_side_size(int width, int height, int shorter) {
  check_input(width > 0 && height > 0 && shorter > 0, "resize: bad sizes");
  if (width <= height) return {shorter, static_cast<int>(static_cast<int64_t>(shorter) * height / width)};
  return {static_cast<int>(static_cast<int64_t>(shorter) * width / height), shorter};
}

// ---------------------------------------------------------------- public: preprocessing specs

const std::vector<std::string>& preprocess_preset_names() {
  static const std::vector<std::string> names = {"torchvision", "inception", "keras-caffe", "keras-tf", "raw01", "raw255"};
  return names;
}

Preprocess preprocess_preset(const std::string& name) {
  Preprocess p;
  p.name = name;
  auto exact_resize = [&] {  // Keras load_img(target_size=...): the whole image to the model size
    p.resize = Preprocess::Resize::kExact;
    p.crop = false;
    p.native_layout = Preprocess::Layout::kNHWC;
  };
  if (name == "torchvision") {
    // Resize(crop / 0.875) (256 for 224, 342 for 299), CenterCrop, ToTensor, Normalize(ImageNet).
    return p;
  } else if (name == "inception") {
    p.default_size = 299;
    p.scale = 1.0 / 127.5, p.mean = {1, 1, 1}, p.std = {1, 1, 1};
    p.native_layout = Preprocess::Layout::kNHWC;
  } else if (name == "keras-caffe") {
    exact_resize();
    p.bgr = true;
    p.scale = 1.0, p.mean = {103.939, 116.779, 123.68}, p.std = {1, 1, 1};
  } else if (name == "keras-tf") {
    exact_resize();
    p.scale = 1.0 / 127.5, p.mean = {1, 1, 1}, p.std = {1, 1, 1};
  } else if (name == "raw01") {
    exact_resize();
    p.scale = 1.0 / 255.0, p.mean = {0, 0, 0}, p.std = {1, 1, 1};
  } else if (name == "raw255") {
    exact_resize();
    p.scale = 1.0, p.mean = {0, 0, 0}, p.std = {1, 1, 1};
  } else {
    std::string names;
    for (const auto& n : preprocess_preset_names()) names += (names.empty() ? "" : ", ") + n;
    throw InputError("unknown preprocessing '" + name + "' (presets: " + names + "; or a JSON spec file)");
  }
  return p;
}

namespace {

// A size field: int (square or shorter side), [h, w], or "model".
bool parse_size(const nlohmann::json& v, int& h, int& w, const std::string& what) {
  if (v.is_string() && v.get<std::string>() == "model") { h = w = 0; return false; }
  if (v.is_number_integer() && v.get<int64_t>() > 0 && v.get<int64_t>() <= kMaxImageSide) {
    h = w = v.get<int>();
    return true;
  }
  if (v.is_array() && v.size() == 2 && v[0].is_number_integer() && v[1].is_number_integer() && v[0].get<int64_t>() > 0 &&
      v[1].get<int64_t>() > 0 && v[0].get<int64_t>() <= kMaxImageSide && v[1].get<int64_t>() <= kMaxImageSide) {
    h = v[0].get<int>(), w = v[1].get<int>();
    return true;
  }
  throw InputError(what + " must be a positive integer, [height, width] or \"model\"");
}

std::array<double, 3> parse_triple(const nlohmann::json& v, const std::string& what) {
  if (v.is_number()) return {v.get<double>(), v.get<double>(), v.get<double>()};
  if (v.is_array() && v.size() == 3 && v[0].is_number() && v[1].is_number() && v[2].is_number())
    return {v[0].get<double>(), v[1].get<double>(), v[2].get<double>()};
  throw InputError(what + " must be a number or a list of 3 numbers");
}

const char* layout_name(Preprocess::Layout l) {
  return l == Preprocess::Layout::kNCHW ? "nchw" : l == Preprocess::Layout::kNHWC ? "nhwc" : "auto";
}

}  // namespace

Preprocess preprocess_from_json(const nlohmann::json& j, const std::string& label) {
  check_input(j.is_object(), label + ": a preprocessing spec must be a JSON object");
  static const std::vector<std::string> known = {"preset", "resize", "crop", "crop_fraction", "interpolation", "scale",
                                                 "mean", "std", "channel_order", "layout", "dtype"};
  for (auto it = j.begin(); it != j.end(); ++it)
    check_input(std::find(known.begin(), known.end(), it.key()) != known.end(),
                label + ": unknown field '" + it.key() + "'");
  try {
    Preprocess p = preprocess_preset(j.value("preset", std::string("raw01")));
    p.name = label;
    if (!j.contains("preset")) p.resize = Preprocess::Resize::kNone, p.crop = false;
    if (j.contains("resize")) {
      const auto& r = j["resize"];
      if (r.is_null()) {
        p.resize = Preprocess::Resize::kNone;
      } else if (r.is_string() && r.get<std::string>() == "auto") {  // shorter side = crop / crop_fraction
        p.resize = Preprocess::Resize::kShorterSide, p.resize_shorter = 0;
      } else if (r.is_number_integer()) {
        int h, w;
        parse_size(r, h, w, label + ": resize");
        p.resize = Preprocess::Resize::kShorterSide, p.resize_shorter = h;
      } else {
        p.resize = Preprocess::Resize::kExact;
        parse_size(r, p.resize_height, p.resize_width, label + ": resize");
      }
    }
    if (j.contains("crop")) {
      p.crop = !j["crop"].is_null();
      if (p.crop) parse_size(j["crop"], p.crop_height, p.crop_width, label + ": crop");
    }
    if (j.contains("crop_fraction")) {
      p.crop_fraction = j["crop_fraction"].get<double>();
      check_input(p.crop_fraction > 0 && p.crop_fraction <= 1, label + ": crop_fraction must be in (0, 1]");
    }
    if (j.contains("interpolation")) {
      p.interpolation = j["interpolation"].get<std::string>();
      check_input(p.interpolation == "bilinear" || p.interpolation == "nearest",
                  label + ": interpolation must be bilinear or nearest");
    }
    if (j.contains("scale")) p.scale = j["scale"].get<double>();
    if (j.contains("mean")) p.mean = parse_triple(j["mean"], label + ": mean");
    if (j.contains("std")) p.std = parse_triple(j["std"], label + ": std");
    for (double s : p.std) check_input(s != 0 && std::isfinite(s), label + ": std must be finite and non-zero");
    if (j.contains("channel_order")) {
      std::string o = lower(j["channel_order"].get<std::string>());
      check_input(o == "rgb" || o == "bgr", label + ": channel_order must be rgb or bgr");
      p.bgr = o == "bgr";
    }
    if (j.contains("layout")) {
      std::string l = lower(j["layout"].get<std::string>());
      check_input(l == "nchw" || l == "nhwc" || l == "auto", label + ": layout must be nchw, nhwc or auto");
      p.layout = l == "nchw" ? Preprocess::Layout::kNCHW : l == "nhwc" ? Preprocess::Layout::kNHWC : Preprocess::Layout::kAuto;
    }
    if (j.contains("dtype")) {
      p.dtype = dtype_from_name(j["dtype"].get<std::string>());
      check_input(p.dtype != DType::kUndefined && p.dtype != DType::kBool && p.dtype != DType::kF16 && p.dtype != DType::kBF16,
                  label + ": unsupported dtype '" + j["dtype"].get<std::string>() + "'");
    }
    return p;
  } catch (const nlohmann::json::exception& e) {
    throw InputError(label + ": bad preprocessing spec: " + e.what());
  }
}

Preprocess parse_preprocess(const std::string& spec) {
  std::error_code ec;
  if (std::filesystem::is_regular_file(spec, ec)) {
    std::ifstream f(spec);
    nlohmann::json j = nlohmann::json::parse(f, nullptr, /*allow_exceptions=*/false);
    check_input(!j.is_discarded(), spec + ": not valid JSON");
    return preprocess_from_json(j, spec);
  }
  return preprocess_preset(spec);
}

Preprocess resolve_preprocess(Preprocess p, const ValueInfo& input) {
  const std::string where = "input '" + input.name + "' " + (input.has_shape ? shape_str(input.shape) : "[?]");
  bool known = input.has_shape && (input.shape.size() == 4 || input.shape.size() == 3);
  Shape s = known ? input.shape : Shape{};
  if (s.size() == 3) s.insert(s.begin(), 1);  // [C,H,W] / [H,W,C] without batch: same pixels
  auto is_channels = [](int64_t d) { return d == 1 || d == 3; };
  if (p.layout == Preprocess::Layout::kAuto) {
    p.layout = p.native_layout;
    if (known) {
      bool first = is_channels(s[1]), last = is_channels(s[3]);
      if (first && last && s[1] != s[3]) first = s[1] == 3, last = s[3] == 3;  // [1,3,1,1]: 3 channels
      if (first && !last) p.layout = Preprocess::Layout::kNCHW;
      else if (last && !first) p.layout = Preprocess::Layout::kNHWC;
      else if (!first && !last && s[1] > 0 && s[3] > 0)
        throw InputError(where + " has no channel dim of size 1 or 3: not an image input (use --npy or --random)");
    }
  }
  int64_t c = -1, h = -1, w = -1;
  if (known) {
    bool nchw = p.layout == Preprocess::Layout::kNCHW;
    c = nchw ? s[1] : s[3], h = nchw ? s[2] : s[1], w = nchw ? s[3] : s[2];
  } else {
    check_input(!input.has_shape, where + ": an image input must have rank 3 or 4");
  }
  if (c > 0) {
    check_input(is_channels(c), where + ": an image input needs 1 or 3 channels, not " + std::to_string(c));
    p.channels = static_cast<int>(c);
  }
  check_input(h <= kMaxImageSide && w <= kMaxImageSide, where + ": input size out of range");
  int model_h = h > 0 ? static_cast<int>(h) : p.default_size, model_w = w > 0 ? static_cast<int>(w) : p.default_size;
  if (p.crop && p.crop_height == 0) p.crop_height = model_h, p.crop_width = model_w;
  if (p.resize == Preprocess::Resize::kShorterSide && p.resize_shorter == 0) {
    check_input(p.crop, p.name + ": resize \"auto\" needs a crop");
    p.resize_shorter = static_cast<int>(std::lround(std::min(p.crop_height, p.crop_width) / p.crop_fraction));
  }
  if (p.resize == Preprocess::Resize::kExact && p.resize_height == 0) p.resize_height = model_h, p.resize_width = model_w;
  if (h > 0 && w > 0) {  // the final size must be the model's
    int out_h = p.crop ? p.crop_height : p.resize == Preprocess::Resize::kExact ? p.resize_height : -1;
    int out_w = p.crop ? p.crop_width : p.resize == Preprocess::Resize::kExact ? p.resize_width : -1;
    if (out_h > 0)
      check_input(out_h == h && out_w == w, p.name + ": makes " + std::to_string(out_h) + "x" + std::to_string(out_w) +
                                                " images but " + where + " wants " + std::to_string(h) + "x" +
                                                std::to_string(w));
  }
  return p;
}

namespace {

template <typename T>
void fill_normalized(const Image& img, const Preprocess& p, T* out) {
  // Same operation order as torchvision (ToTensor: p / 255; Normalize: (x - mean) / std) in T.
  const T divisor = static_cast<T>(1.0 / p.scale);
  const int64_t hw = static_cast<int64_t>(img.width) * img.height;
  const bool nchw = p.layout == Preprocess::Layout::kNCHW;
  for (int c = 0; c < img.channels; ++c) {
    int src_c = (p.bgr && img.channels == 3) ? 2 - c : c;
    const T mean = static_cast<T>(p.mean[c]), std = static_cast<T>(p.std[c]);
    for (int64_t i = 0; i < hw; ++i) {
      T v = (static_cast<T>(img.pixels[i * img.channels + src_c]) / divisor - mean) / std;
      out[nchw ? c * hw + i : i * img.channels + c] = v;
    }
  }
}

}  // namespace

Image preprocess_geometry(const Image& image, const Preprocess& p) {
  auto resize = [&](const Image& in, int w, int h) {
    if (p.crop && p.interpolation != "nearest")  // only the pixels the crop keeps
      return resize_bilinear_pil_center_crop(in, w, h, p.crop_width, p.crop_height);
    Image out = p.interpolation == "nearest" ? resize_nearest_pil(in, w, h) : resize_bilinear_pil(in, w, h);
    return p.crop ? center_crop(out, p.crop_width, p.crop_height) : out;
  };
  Image img;
  if (p.resize == Preprocess::Resize::kShorterSide) {
    auto [w, h] = shorter_side_size(image.width, image.height, p.resize_shorter);
    img = resize(image, w, h);
  } else if (p.resize == Preprocess::Resize::kExact) {
    img = resize(image, p.resize_width, p.resize_height);
  } else {
    img = p.crop ? center_crop(image, p.crop_width, p.crop_height) : image;
  }
  return p.channels == 1 ? to_grayscale(img) : img;
}

bool same_geometry(const Preprocess& a, const Preprocess& b) {
  return a.resize == b.resize && a.resize_shorter == b.resize_shorter && a.resize_height == b.resize_height &&
         a.resize_width == b.resize_width && a.crop == b.crop && a.crop_height == b.crop_height &&
         a.crop_width == b.crop_width && a.interpolation == b.interpolation && a.channels == b.channels;
}

Tensor image_to_tensor(const Image& img, const Preprocess& p) {
  check_input(p.layout != Preprocess::Layout::kAuto, "preprocess_image: unresolved layout");
  check_input(p.scale != 0 && std::isfinite(p.scale), p.name + ": scale must be finite and non-zero");
  Shape shape = p.layout == Preprocess::Layout::kNCHW ? Shape{1, img.channels, img.height, img.width}
                                                      : Shape{1, img.height, img.width, img.channels};
  DType dt = p.dtype == DType::kUndefined ? DType::kF32 : p.dtype;
  if (dt == DType::kF32) {
    Tensor t(DType::kF32, shape);
    fill_normalized<float>(img, p, t.mutable_data<float>());
    return t;
  }
  Tensor t(DType::kF64, shape);
  fill_normalized<double>(img, p, t.mutable_data<double>());
  if (dt == DType::kF64) return t;
  // Integer inputs: round to nearest and saturate (raw255 -> uint8 gives the pixels back exactly).
  double* d = t.mutable_data<double>();
  double lo = dt == DType::kU8 ? 0 : dt == DType::kI8 ? -128 : -2147483648.0;
  double hi = dt == DType::kU8 ? 255 : dt == DType::kI8 ? 127 : 2147483647.0;
  for (int64_t i = 0; i < t.numel(); ++i) d[i] = std::clamp(std::nearbyint(d[i]), lo, hi);
  return t.cast(dt);
}

Tensor preprocess_image(const Image& image, const Preprocess& p) {
  check_input(p.layout != Preprocess::Layout::kAuto, "preprocess_image: unresolved layout");
  check_input(p.scale != 0 && std::isfinite(p.scale), p.name + ": scale must be finite and non-zero");
  return image_to_tensor(preprocess_geometry(image, p), p);
}

nlohmann::json preprocess_json(const Preprocess& p) {
  nlohmann::json j;
  j["name"] = p.name;
  switch (p.resize) {
    case Preprocess::Resize::kNone: j["resize"] = nullptr; break;
    case Preprocess::Resize::kShorterSide: j["resize"] = {{"shorter_side", p.resize_shorter}}; break;
    case Preprocess::Resize::kExact: j["resize"] = {p.resize_height, p.resize_width}; break;
  }
  j["interpolation"] = p.interpolation == "nearest" ? "nearest (PIL)" : "bilinear (PIL, antialiased)";
  j["crop"] = p.crop ? nlohmann::json{p.crop_height, p.crop_width} : nlohmann::json(nullptr);
  j["scale"] = p.scale;
  j["mean"] = p.mean;
  j["std"] = p.std;
  j["channel_order"] = p.channels == 1 ? "gray" : p.bgr ? "bgr" : "rgb";
  j["layout"] = layout_name(p.layout);
  j["dtype"] = dtype_name(p.dtype == DType::kUndefined ? DType::kF32 : p.dtype);
  return j;
}

}  // namespace transfix
