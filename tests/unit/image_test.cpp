// Image decoding (PNG/JPEG files made here with libpng/libjpeg), PIL-compatible geometry and the
// preprocessing presets, with hand-computed expectations; and transfix's torchvision
// preprocessing of a natural image against the tensor PyTorch made from it.
#include <gtest/gtest.h>
#include <jpeglib.h>
#include <png.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <random>
#include <algorithm>
#include <nlohmann/json.hpp>

#include "core/errors.h"
#include "data/image.h"
#include "data/npy.h"

using namespace transfix;

namespace {

// ---------------------------------------------------------------- writers

void png_append(png_structp png, png_bytep data, png_size_t n) {
  static_cast<std::string*>(png_get_io_ptr(png))->append(reinterpret_cast<const char*>(data), n);
}
void png_flush_nothing(png_structp) {}

struct PngSpec {
  int width = 2, height = 1;
  int color_type = PNG_COLOR_TYPE_RGB;
  int bit_depth = 8;
  std::vector<uint8_t> rows;                  // packed rows as stored (big-endian 16-bit samples)
  std::vector<png_color> palette = {};
  std::vector<uint8_t> trns = {};             // palette alpha
  bool interlaced = false;
};

std::string make_png(const PngSpec& s) {
  std::string out;
  png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, nullptr, nullptr, nullptr);
  png_infop info = png_create_info_struct(png);
  if (setjmp(png_jmpbuf(png))) {
    png_destroy_write_struct(&png, &info);
    ADD_FAILURE() << "libpng write failed";
    return {};
  }
  png_set_write_fn(png, &out, png_append, png_flush_nothing);
  png_set_IHDR(png, info, s.width, s.height, s.bit_depth, s.color_type,
               s.interlaced ? PNG_INTERLACE_ADAM7 : PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
  if (!s.palette.empty()) png_set_PLTE(png, info, s.palette.data(), static_cast<int>(s.palette.size()));
  if (!s.trns.empty()) png_set_tRNS(png, info, s.trns.data(), static_cast<int>(s.trns.size()), nullptr);
  png_write_info(png, info);
  size_t row_bytes = s.rows.size() / s.height;
  std::vector<png_bytep> rows;
  for (int y = 0; y < s.height; ++y) rows.push_back(const_cast<uint8_t*>(s.rows.data()) + y * row_bytes);
  png_write_image(png, rows.data());
  png_write_end(png, nullptr);
  png_destroy_write_struct(&png, &info);
  return out;
}

// A JPEG at quality 100 of a uniform 8x8 image (DC only: decodes to within a level or two).
std::string make_jpeg(J_COLOR_SPACE in_space, int components, const std::vector<uint8_t>& pixel,
                      J_COLOR_SPACE jpeg_space = JCS_UNKNOWN) {
  jpeg_compress_struct c{};
  jpeg_error_mgr err{};
  c.err = jpeg_std_error(&err);
  jpeg_create_compress(&c);
  unsigned char* buf = nullptr;
  unsigned long size = 0;
  jpeg_mem_dest(&c, &buf, &size);
  c.image_width = 8, c.image_height = 8, c.input_components = components, c.in_color_space = in_space;
  jpeg_set_defaults(&c);
  if (jpeg_space != JCS_UNKNOWN) jpeg_set_colorspace(&c, jpeg_space);
  jpeg_set_quality(&c, 100, TRUE);
  jpeg_start_compress(&c, TRUE);
  std::vector<uint8_t> row;
  for (int x = 0; x < 8; ++x) row.insert(row.end(), pixel.begin(), pixel.end());
  while (c.next_scanline < 8) {
    JSAMPROW r = row.data();
    jpeg_write_scanlines(&c, &r, 1);
  }
  jpeg_finish_compress(&c);
  jpeg_destroy_compress(&c);
  std::string out(reinterpret_cast<char*>(buf), size);
  free(buf);
  return out;
}

std::vector<int> pixel(const Image& img, int x, int y) { return {img.at(x, y, 0), img.at(x, y, 1), img.at(x, y, 2)}; }

void expect_near_pixel(const Image& img, std::vector<int> want, int tol) {
  for (int c = 0; c < 3; ++c) EXPECT_NEAR(img.at(3, 3, c), want[c], tol) << "channel " << c;
}

Image row_image(std::vector<uint8_t> gray) {
  Image img{static_cast<int>(gray.size()), 1, 1, gray, "gray"};
  return img;
}

}  // namespace

// ---------------------------------------------------------------- PNG

TEST(ImageDecode, PngRgb8) {
  Image img = decode_image(make_png({2, 1, PNG_COLOR_TYPE_RGB, 8, {10, 20, 30, 40, 50, 60}}), "t.png");
  EXPECT_EQ(img.width, 2);
  EXPECT_EQ(img.height, 1);
  EXPECT_EQ(img.mode, "rgb");
  EXPECT_EQ(pixel(img, 0, 0), (std::vector<int>{10, 20, 30}));
  EXPECT_EQ(pixel(img, 1, 0), (std::vector<int>{40, 50, 60}));
}

TEST(ImageDecode, PngGrayIsReplicated) {
  Image img = decode_image(make_png({2, 1, PNG_COLOR_TYPE_GRAY, 8, {7, 200}}), "t.png");
  EXPECT_EQ(img.mode, "gray");
  EXPECT_EQ(pixel(img, 1, 0), (std::vector<int>{200, 200, 200}));
}

TEST(ImageDecode, PngGray1BitExpandsTo0And255) {
  // 1-bit row 0b10000000: first pixel white, second black.
  Image img = decode_image(make_png({2, 1, PNG_COLOR_TYPE_GRAY, 1, {0x80}}), "t.png");
  EXPECT_EQ(pixel(img, 0, 0), (std::vector<int>{255, 255, 255}));
  EXPECT_EQ(pixel(img, 1, 0), (std::vector<int>{0, 0, 0}));
}

TEST(ImageDecode, PngGray16KeepsHighByte) {
  Image img = decode_image(make_png({2, 1, PNG_COLOR_TYPE_GRAY, 16, {0x12, 0x34, 0xFF, 0xFF}}), "t.png");
  EXPECT_EQ(img.mode, "gray16");
  EXPECT_EQ(pixel(img, 0, 0), (std::vector<int>{0x12, 0x12, 0x12}));
  EXPECT_EQ(pixel(img, 1, 0), (std::vector<int>{255, 255, 255}));
}

TEST(ImageDecode, PngRgb16KeepsHighByte) {
  Image img = decode_image(make_png({1, 1, PNG_COLOR_TYPE_RGB, 16, {0xAB, 0xCD, 0x01, 0xFF, 0x80, 0x00}}), "t.png");
  EXPECT_EQ(img.mode, "rgb16");
  EXPECT_EQ(pixel(img, 0, 0), (std::vector<int>{0xAB, 0x01, 0x80}));
}

TEST(ImageDecode, PngRgbaDropsAlphaWithoutCompositing) {
  Image img = decode_image(make_png({1, 1, PNG_COLOR_TYPE_RGB_ALPHA, 8, {100, 150, 200, 0}}), "t.png");
  EXPECT_EQ(img.mode, "rgba");
  EXPECT_EQ(pixel(img, 0, 0), (std::vector<int>{100, 150, 200}));  // alpha 0 does not blacken it
}

TEST(ImageDecode, PngGrayAlpha) {
  Image img = decode_image(make_png({1, 1, PNG_COLOR_TYPE_GRAY_ALPHA, 8, {90, 10}}), "t.png");
  EXPECT_EQ(img.mode, "gray+alpha");
  EXPECT_EQ(pixel(img, 0, 0), (std::vector<int>{90, 90, 90}));
}

TEST(ImageDecode, PngPaletteWithTransparency) {
  PngSpec s{3, 1, PNG_COLOR_TYPE_PALETTE, 8, {2, 0, 1}};
  s.palette = {{255, 0, 0}, {0, 255, 0}, {1, 2, 3}};
  s.trns = {0, 128, 255};
  Image img = decode_image(make_png(s), "t.png");
  EXPECT_EQ(img.mode, "palette");
  EXPECT_EQ(pixel(img, 0, 0), (std::vector<int>{1, 2, 3}));
  EXPECT_EQ(pixel(img, 1, 0), (std::vector<int>{255, 0, 0}));  // transparent entry keeps its colour
  EXPECT_EQ(pixel(img, 2, 0), (std::vector<int>{0, 255, 0}));
}

TEST(ImageDecode, PngPalette4Bit) {
  PngSpec s{2, 1, PNG_COLOR_TYPE_PALETTE, 4, {0x10}};  // indices 1, 0
  s.palette = {{9, 8, 7}, {6, 5, 4}};
  Image img = decode_image(make_png(s), "t.png");
  EXPECT_EQ(pixel(img, 0, 0), (std::vector<int>{6, 5, 4}));
  EXPECT_EQ(pixel(img, 1, 0), (std::vector<int>{9, 8, 7}));
}

TEST(ImageDecode, PngInterlaced) {
  PngSpec s{3, 3, PNG_COLOR_TYPE_GRAY, 8, {0, 1, 2, 3, 4, 5, 6, 7, 8}};
  s.interlaced = true;
  Image img = decode_image(make_png(s), "t.png");
  for (int y = 0; y < 3; ++y)
    for (int x = 0; x < 3; ++x) EXPECT_EQ(img.at(x, y, 0), y * 3 + x);
}

TEST(ImageDecode, BadFilesAreInputErrors) {
  EXPECT_THROW(decode_image("hello, not an image", "a.png"), InputError);
  EXPECT_THROW(decode_image("", "a.png"), InputError);
  std::string png = make_png({2, 2, PNG_COLOR_TYPE_RGB, 8, std::vector<uint8_t>(12, 9)});
  EXPECT_THROW(decode_image(png.substr(0, png.size() / 2), "a.png"), InputError);
  std::string corrupt = png;
  corrupt[20] ^= 0x55;  // IHDR CRC no longer matches
  EXPECT_THROW(decode_image(corrupt, "a.png"), InputError);
  std::string jpeg = make_jpeg(JCS_RGB, 3, {1, 2, 3});
  EXPECT_THROW(decode_image(jpeg.substr(0, jpeg.size() / 2), "a.jpg"), InputError);
  try {
    decode_image("junk", "dir/a.png");
    FAIL();
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("dir/a.png"), std::string::npos);
  }
}

// ---------------------------------------------------------------- JPEG

TEST(ImageDecode, JpegRgb) {
  Image img = decode_image(make_jpeg(JCS_RGB, 3, {200, 100, 50}), "t.jpg");
  EXPECT_EQ(img.mode, "rgb");
  EXPECT_EQ(img.width, 8);
  expect_near_pixel(img, {200, 100, 50}, 2);
}

TEST(ImageDecode, JpegGray) {
  Image img = decode_image(make_jpeg(JCS_GRAYSCALE, 1, {77}), "t.jpg");
  EXPECT_EQ(img.mode, "gray");
  expect_near_pixel(img, {77, 77, 77}, 1);
}

TEST(ImageDecode, JpegAdobeCmykIsInverted) {
  // libjpeg writes an Adobe marker for CMYK; Adobe files store 255 - ink. Ink C=0 M=255 Y=0 K=0
  // (stored 255, 0, 255, 255) is magenta: R = (255 - K)(255 - C) / 255 = 255, G = 0, B = 255.
  Image img = decode_image(make_jpeg(JCS_CMYK, 4, {255, 0, 255, 255}), "t.jpg");
  EXPECT_EQ(img.mode, "cmyk");
  expect_near_pixel(img, {255, 0, 255}, 2);
  // Ink C=0 M=0 Y=0 K=128: grey (255 - 128) = 127.
  Image grey = decode_image(make_jpeg(JCS_CMYK, 4, {255, 255, 255, 127}), "t.jpg");
  expect_near_pixel(grey, {127, 127, 127}, 2);
}

TEST(ImageDecode, JpegYcck) {
  Image img = decode_image(make_jpeg(JCS_CMYK, 4, {255, 0, 255, 255}, JCS_YCCK), "t.jpg");
  EXPECT_EQ(img.mode, "ycck");
  expect_near_pixel(img, {255, 0, 255}, 3);
}

// ---------------------------------------------------------------- geometry (PIL semantics)

TEST(ImageResize, BilinearDownscaleIsAntialiased) {
  // 4 -> 2: filter support 2 input pixels. Output 0 centred at 1.0 takes pixels 0,1,2 with
  // triangle weights 0.75, 0.75, 0.25 (normalized 3/7, 3/7, 1/7): 70*3/7 + 140/7 = 50;
  // output 1 centred at 3.0: 70/7 + 140*3/7 + 210*3/7 = 160. (Plain bilinear would give 35, 175.)
  Image out = resize_bilinear_pil(row_image({0, 70, 140, 210}), 2, 1);
  EXPECT_EQ(out.at(0, 0, 0), 50);
  EXPECT_EQ(out.at(1, 0, 0), 160);
}

TEST(ImageResize, BilinearUpscaleIsHalfPixel) {
  // 2 -> 4: centres 0.25, 0.75, 1.25, 1.75 in input pixels: 0, 0.75*0+0.25*100, 75, 100.
  Image out = resize_bilinear_pil(row_image({0, 100}), 4, 1);
  EXPECT_EQ(out.at(0, 0, 0), 0);
  EXPECT_EQ(out.at(1, 0, 0), 25);
  EXPECT_EQ(out.at(2, 0, 0), 75);
  EXPECT_EQ(out.at(3, 0, 0), 100);
}

TEST(ImageResize, VerticalPassAndRounding) {
  // 1x3 column -> 1x2: scale 1.5, support 1.5. Output 0 centred at 0.75: pixels 0..2 with weights
  // f(-0.1667)=0.8333, f(0.5)=0.3333... normalized over the in-range taps.
  Image col{1, 3, 1, {0, 90, 180}, "gray"};
  Image out = resize_bilinear_pil(col, 1, 2);
  // centre 0.75: xmin 0, xmax int(2.75)=2 -> taps 0,1: w = f((0+0.5-0.75)/1.5)=0.8333, f((1.5-0.75)/1.5)=0.5
  // -> 90 * 0.5/1.3333 = 33.75 -> 34; symmetric for output 1: 180 - 33.75 = 146.25 -> 146.
  EXPECT_EQ(out.at(0, 0, 0), 34);
  EXPECT_EQ(out.at(0, 1, 0), 146);
}

// The PIL 8-bit bilinear resample written out directly (one output sample at a time, 64-bit
// sums, the separable passes horizontal then vertical), against the optimized row loops.
std::vector<int32_t> pil_weights(int in_size, int out_size, int xx, int& xmin) {
  double scale = static_cast<double>(in_size) / out_size, filterscale = std::max(scale, 1.0);
  double center = (xx + 0.5) * scale;
  xmin = std::max(static_cast<int>(center - filterscale + 0.5), 0);
  int xmax = std::min(static_cast<int>(center + filterscale + 0.5), in_size) - xmin;
  std::vector<double> k(xmax);
  double ww = 0;
  for (int x = 0; x < xmax; ++x) ww += k[x] = std::max(0.0, 1.0 - std::fabs((x + xmin - center + 0.5) / filterscale));
  std::vector<int32_t> w(xmax);
  for (int x = 0; x < xmax; ++x) w[x] = static_cast<int32_t>(0.5 + k[x] / ww * (1 << 22));
  return w;
}

Image naive_resample(const Image& in, int out_w, int out_h) {
  auto clip = [](int64_t v) { return static_cast<uint8_t>(std::clamp<int64_t>(v >> 22, 0, 255)); };
  Image tmp{out_w, in.height, in.channels, std::vector<uint8_t>(size_t(out_w) * in.height * in.channels), in.mode};
  for (int y = 0; y < in.height; ++y)
    for (int xx = 0; xx < out_w; ++xx) {
      int xmin;
      auto w = pil_weights(in.width, out_w, xx, xmin);
      for (int c = 0; c < in.channels; ++c) {
        int64_t ss = 1 << 21;
        for (size_t x = 0; x < w.size(); ++x) ss += int64_t{in.at(xmin + int(x), y, c)} * w[x];
        tmp.pixels[(size_t(y) * out_w + xx) * in.channels + c] = clip(ss);
      }
    }
  Image out{out_w, out_h, in.channels, std::vector<uint8_t>(size_t(out_w) * out_h * in.channels), in.mode};
  for (int yy = 0; yy < out_h; ++yy) {
    int ymin;
    auto w = pil_weights(in.height, out_h, yy, ymin);
    for (int x = 0; x < out_w; ++x)
      for (int c = 0; c < in.channels; ++c) {
        int64_t ss = 1 << 21;
        for (size_t y = 0; y < w.size(); ++y) ss += int64_t{tmp.at(x, ymin + int(y), c)} * w[y];
        out.pixels[(size_t(yy) * out_w + x) * in.channels + c] = clip(ss);
      }
  }
  return out;
}

TEST(ImageResize, RowLoopsMatchTheFormula) {
  std::mt19937 rng(7);
  struct Case { int w, h, channels, out_w, out_h; };
  for (Case cs : {Case{97, 61, 3, 40, 23}, Case{33, 50, 1, 70, 19}, Case{300, 200, 3, 256, 171}, Case{17, 9, 3, 64, 40}}) {
    Image in{cs.w, cs.h, cs.channels, std::vector<uint8_t>(size_t(cs.w) * cs.h * cs.channels), cs.channels == 3 ? "rgb" : "gray"};
    for (auto& p : in.pixels) p = static_cast<uint8_t>(rng() % 256);
    in.pixels[0] = 255, in.pixels[1] = 0;  // extremes exercise the clipping
    Image want = naive_resample(in, cs.out_w, cs.out_h);
    Image got = resize_bilinear_pil(in, cs.out_w, cs.out_h);
    ASSERT_EQ(got.pixels.size(), want.pixels.size());
    size_t differ = 0;
    for (size_t i = 0; i < got.pixels.size(); ++i) differ += got.pixels[i] != want.pixels[i];
    EXPECT_EQ(differ, 0u) << cs.w << "x" << cs.h << "x" << cs.channels << " -> " << cs.out_w << "x" << cs.out_h;
  }
}

TEST(ImageResize, CenterCropOfResizeComputesOnlyTheWindow) {
  std::mt19937 rng(11);
  struct Case { int w, h, channels, out_w, out_h, crop_w, crop_h; };
  for (Case cs : {Case{640, 480, 3, 341, 256, 224, 224}, Case{300, 451, 3, 256, 384, 224, 224}, Case{256, 256, 3, 256, 256, 224, 224},
                  Case{90, 70, 1, 40, 31, 40, 20}, Case{50, 50, 3, 30, 30, 31, 10}, Case{64, 48, 3, 64, 100, 33, 77}}) {
    Image in{cs.w, cs.h, cs.channels, std::vector<uint8_t>(size_t(cs.w) * cs.h * cs.channels), cs.channels == 3 ? "rgb" : "gray"};
    for (auto& p : in.pixels) p = static_cast<uint8_t>(rng() % 256);
    Image want = naive_resample(in, cs.out_w, cs.out_h);
    want = center_crop(want, cs.crop_w, cs.crop_h);
    Image got = resize_bilinear_pil_center_crop(in, cs.out_w, cs.out_h, cs.crop_w, cs.crop_h);
    ASSERT_EQ(got.width, want.width);
    ASSERT_EQ(got.height, want.height);
    EXPECT_EQ(got.pixels, want.pixels) << cs.w << "x" << cs.h << " -> " << cs.out_w << "x" << cs.out_h << " crop " << cs.crop_w << "x" << cs.crop_h;
  }
}

TEST(ImageResize, Nearest) {
  Image out = resize_nearest_pil(row_image({10, 20, 30, 40}), 2, 1);  // centres 1.0, 3.0 -> pixels 1, 3
  EXPECT_EQ(out.at(0, 0, 0), 20);
  EXPECT_EQ(out.at(1, 0, 0), 40);
}

TEST(ImageResize, ShorterSideTruncatesLikeTorchvision) {
  EXPECT_EQ(shorter_side_size(451, 300, 256), (std::array<int, 2>{384, 256}));  // 256*451/300 = 384.85
  EXPECT_EQ(shorter_side_size(300, 451, 256), (std::array<int, 2>{256, 384}));
  EXPECT_EQ(shorter_side_size(500, 500, 224), (std::array<int, 2>{224, 224}));
}

TEST(ImageCrop, CenterCropRoundsHalfToEven) {
  // width 5, crop 2: (5-2)/2 = 1.5 -> 2; width 7: 2.5 -> 2 (Python round).
  Image five = center_crop(row_image({0, 1, 2, 3, 4}), 2, 1);
  EXPECT_EQ(five.at(0, 0, 0), 2);
  Image seven = center_crop(row_image({0, 1, 2, 3, 4, 5, 6}), 2, 1);
  EXPECT_EQ(seven.at(0, 0, 0), 2);
  // Larger than the image: padded with (4-2)//2 = 1 zero on the left.
  Image pad = center_crop(row_image({5, 6}), 4, 1);
  EXPECT_EQ(pad.pixels, (std::vector<uint8_t>{0, 5, 6, 0}));
}

TEST(ImageColor, GrayscaleUsesPilWeights) {
  Image rgb{1, 1, 3, {255, 0, 0}, "rgb"};
  EXPECT_EQ(to_grayscale(rgb).pixels[0], 76);  // (255*19595 + 32768) >> 16 = 76
  Image g{1, 1, 3, {10, 200, 30}, "rgb"};
  EXPECT_EQ(to_grayscale(g).pixels[0], (10 * 19595 + 200 * 38470 + 30 * 7471 + 32768) >> 16);
}

// ---------------------------------------------------------------- preprocessing

namespace {
ValueInfo image_input(Shape shape) {
  ValueInfo v;
  v.name = "x";
  v.dtype = DType::kF32;
  v.shape = std::move(shape);
  v.has_shape = true;
  return v;
}
}  // namespace

TEST(Preprocess, TorchvisionResolvesSizesFromTheModel) {
  Preprocess p = resolve_preprocess(preprocess_preset("torchvision"), image_input({1, 3, 224, 224}));
  EXPECT_EQ(p.layout, Preprocess::Layout::kNCHW);
  EXPECT_EQ(p.resize_shorter, 256);
  EXPECT_EQ(p.crop_height, 224);
  Preprocess q = resolve_preprocess(preprocess_preset("torchvision"), image_input({1, 3, 299, 299}));
  EXPECT_EQ(q.resize_shorter, 342);  // torchvision's inception_v3 eval transform
  Preprocess nhwc = resolve_preprocess(preprocess_preset("torchvision"), image_input({1, 224, 224, 3}));
  EXPECT_EQ(nhwc.layout, Preprocess::Layout::kNHWC);
  Preprocess gray = resolve_preprocess(preprocess_preset("raw01"), image_input({1, 1, 28, 28}));
  EXPECT_EQ(gray.channels, 1);
  EXPECT_EQ(gray.resize_height, 28);
  EXPECT_THROW(resolve_preprocess(preprocess_preset("torchvision"), image_input({1, 10})), InputError);
  EXPECT_THROW(resolve_preprocess(preprocess_preset("torchvision"), image_input({1, 5, 8, 8})), InputError);
  EXPECT_THROW(preprocess_preset("imagenet-ish"), InputError);
}

TEST(Preprocess, TorchvisionValuesByHand) {
  // A 2x2 image already at the model size: no resize effect, crop 2x2 = whole image.
  Image img{2, 2, 3, {255, 0, 0, 0, 255, 0, 0, 0, 255, 51, 102, 153}, "rgb"};
  Preprocess p = preprocess_preset("torchvision");
  p.resize = Preprocess::Resize::kNone;
  p = resolve_preprocess(p, image_input({1, 3, 2, 2}));
  Tensor t = preprocess_image(img, p);
  ASSERT_EQ(t.shape(), (Shape{1, 3, 2, 2}));
  const float* v = t.data<float>();
  // NCHW: channel 0 (R) of pixel (0,0) = (1 - 0.485) / 0.229; of pixel (1,1) = (0.2 - 0.485) / 0.229.
  EXPECT_FLOAT_EQ(v[0], (1.0f - 0.485f) / 0.229f);
  EXPECT_FLOAT_EQ(v[3], (0.2f - 0.485f) / 0.229f);
  EXPECT_FLOAT_EQ(v[4 + 1], (1.0f - 0.456f) / 0.224f);  // G of pixel (1,0)
  EXPECT_FLOAT_EQ(v[8 + 3], (0.6f - 0.406f) / 0.225f);  // B of pixel (1,1) = 153/255
}

TEST(Preprocess, KerasCaffeIsBgrMeanSubtractedNhwc) {
  Image img{1, 1, 3, {10, 20, 30}, "rgb"};
  Preprocess p = resolve_preprocess(preprocess_preset("keras-caffe"), image_input({1, 1, 1, 3}));
  Tensor t = preprocess_image(img, p);
  ASSERT_EQ(t.shape(), (Shape{1, 1, 1, 3}));
  const float* v = t.data<float>();
  EXPECT_FLOAT_EQ(v[0], 30 - 103.939f);  // B
  EXPECT_FLOAT_EQ(v[1], 20 - 116.779f);
  EXPECT_FLOAT_EQ(v[2], 10 - 123.68f);   // R
}

TEST(Preprocess, ScalingPresets) {
  Image img{1, 1, 3, {0, 127, 255}, "rgb"};
  auto run = [&](const char* preset) {
    return preprocess_image(img, resolve_preprocess(preprocess_preset(preset), image_input({1, 3, 1, 1}))).to_f64_vector();
  };
  auto tf = run("keras-tf");
  EXPECT_FLOAT_EQ(tf[0], -1.0f);
  EXPECT_FLOAT_EQ(tf[2], 1.0f);
  EXPECT_NEAR(tf[1], 127 / 127.5 - 1, 1e-6);
  auto r01 = run("raw01");
  EXPECT_FLOAT_EQ(r01[2], 1.0f);
  auto r255 = run("raw255");
  EXPECT_EQ(r255[1], 127);
  auto inc = run("inception");  // 1x1 model: resize shorter side round(1 / 0.875) = 1, crop 1
  EXPECT_FLOAT_EQ(inc[0], -1.0f);
}

TEST(Preprocess, JsonSpec) {
  nlohmann::json j = {{"resize", {4, 6}}, {"scale", 1.0}, {"mean", 100}, {"std", {1, 2, 4}},
                      {"channel_order", "bgr"}, {"layout", "nhwc"}, {"dtype", "uint8"}};
  Preprocess p = preprocess_from_json(j, "spec.json");
  EXPECT_EQ(p.resize, Preprocess::Resize::kExact);
  EXPECT_EQ(p.resize_height, 4);
  EXPECT_EQ(p.resize_width, 6);
  EXPECT_FALSE(p.crop);
  p = resolve_preprocess(p, image_input({1, 4, 6, 3}));
  Image img{1, 1, 3, {110, 120, 140}, "rgb"};
  Tensor t = preprocess_image(img, p);  // upscaled uniform image stays uniform
  ASSERT_EQ(t.dtype(), DType::kU8);
  ASSERT_EQ(t.shape(), (Shape{1, 4, 6, 3}));
  auto v = t.to_i64_vector();
  EXPECT_EQ(v[0], 40);  // B: (140 - 100) / 1
  EXPECT_EQ(v[1], 10);  // G: (120 - 100) / 2
  EXPECT_EQ(v[2], 2);   // R: (110 - 100) / 4 = 2.5 -> 2 (round half to even)
  EXPECT_THROW(preprocess_from_json({{"bogus", 1}}, "s.json"), InputError);
  EXPECT_THROW(preprocess_from_json({{"std", 0}}, "s.json"), InputError);
  EXPECT_THROW(preprocess_from_json({{"layout", "chw"}}, "s.json"), InputError);
  EXPECT_THROW(resolve_preprocess(preprocess_from_json({{"resize", 8}, {"crop", 5}}, "s.json"), image_input({1, 3, 4, 4})),
               InputError);  // the spec's 5x5 crop cannot feed a 4x4 input
}

// ---------------------------------------------------------------- against PyTorch

// tools/make_fixtures.py preprocessed skimage_chelsea.png with torchvision (PIL Resize(256)
// bilinear, CenterCrop(224), ToTensor, Normalize) into the fixture's input.npy.
// Tolerance: one 8-bit intensity level is 1/255/0.229 = 0.017 after normalization, so any
// difference in the PIL-style resampling shows up at >= 0.017. With the resampling reproduced
// exactly, what remains is float32 rounding of (p/255 - mean)/std, done here in the same order
// as PyTorch: at most a few ulps of values up to 2.7, i.e. < 1e-6.
TEST(Preprocess, TorchvisionMatchesPyTorchOnANaturalImage) {
  const char* env = std::getenv("TRANSFIX_CACHE");
  std::filesystem::path cache = env && *env ? env : std::string(std::getenv("HOME") ? std::getenv("HOME") : "") + "/.cache/transfix";
  auto image = cache / "images" / "skimage_chelsea.png";
  auto ref_file = cache / "fixtures" / "mobilenet_v2" / "input.npy";
  if (!std::filesystem::exists(image) || !std::filesystem::exists(ref_file)) GTEST_SKIP() << "fixtures not generated";
  Tensor ref = read_npy(ref_file.string());
  ASSERT_EQ(ref.shape(), (Shape{1, 3, 224, 224}));
  Preprocess p = resolve_preprocess(preprocess_preset("torchvision"), image_input({1, 3, 224, 224}));
  Tensor mine = preprocess_image(read_image(image.string()), p);
  ASSERT_EQ(mine.shape(), ref.shape());
  const float* a = mine.data<float>();
  const float* b = ref.data<float>();
  double max_diff = 0, sum_diff = 0;
  int64_t off_by_a_level = 0;
  for (int64_t i = 0; i < ref.numel(); ++i) {
    double d = std::fabs(static_cast<double>(a[i]) - b[i]);
    max_diff = std::max(max_diff, d);
    sum_diff += d;
    off_by_a_level += d > 0.01;
  }
  double mean_diff = sum_diff / static_cast<double>(ref.numel());
  std::printf("torchvision preprocessing of skimage_chelsea.png vs PyTorch: max abs diff %.3g, mean %.3g, "
              "%lld of %lld values off by an intensity level\n",
              max_diff, mean_diff, static_cast<long long>(off_by_a_level), static_cast<long long>(ref.numel()));
  EXPECT_LT(max_diff, 1e-6);
  EXPECT_LT(mean_diff, 1e-7);
}
