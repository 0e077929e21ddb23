// Images for model inputs: PNG/JPEG decoding (libpng, libjpeg) to 8-bit RGB the way PIL's
// Image.open(...).convert("RGB") does it, PIL-compatible resizing, and the preprocessing presets
// users know (torchvision, inception, keras-caffe, keras-tf, raw01, raw255) or a JSON spec.
//
// Why PIL-compatible: most reference pipelines (torchvision.transforms on PIL images, Keras'
// load_img) run PIL. PIL's bilinear resize is antialiased (the filter widens when shrinking) and
// works in 8-bit fixed point with an 8-bit intermediate between its horizontal and vertical
// passes; resize_bilinear_pil() ports that algorithm (Pillow's Resample.c) so preprocessing here
// reproduces PyTorch's input tensors to float rounding instead of to a few intensity levels.
#pragma once
#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "core/graph.h"
#include "core/tensor.h"

namespace transfix {

// An 8-bit image, `channels` (1 or 3) interleaved per pixel, rows top to bottom.
struct Image {
  int width = 0;
  int height = 0;
  int channels = 3;
  std::vector<uint8_t> pixels;
  std::string mode;  // what the file held: "gray", "gray16", "gray+alpha", "rgb", "rgb16", "rgba", "palette", "cmyk", "ycck"
  uint8_t at(int x, int y, int c) const { return pixels[(static_cast<size_t>(y) * width + x) * channels + c]; }
};

// Decodes a PNG or JPEG (recognized by content, not name) to 8-bit RGB: gray is replicated, alpha
// dropped (not composited, like PIL's convert("RGB")), palettes expanded, 16-bit samples reduced to
// their high byte, CMYK/YCCK converted as PIL does (Adobe files store inverted CMYK). No gamma or
// colour-profile correction (PIL applies none either). Throws InputError naming `label` on anything
// unreadable.
Image decode_image(const std::string& bytes, const std::string& label);
Image read_image(const std::string& path);
// True for file names with an image extension (.png .jpg .jpeg .jpe .bmp .gif .webp .tif .tiff
// .ppm .pgm): folder scans treat these as images (and report those that fail to decode).
bool has_image_extension(const std::string& path);

// PIL Image.resize(..., BILINEAR) of an 8-bit image: antialiased triangle filter, 22-bit fixed-point
// coefficients, horizontal pass then vertical pass, each rounded and clipped to 8 bits.
Image resize_bilinear_pil(const Image& in, int out_width, int out_height);
// PIL Image.resize(..., NEAREST).
Image resize_nearest_pil(const Image& in, int out_width, int out_height);
// torchvision CenterCrop: offsets round((size - crop) / 2) (half to even); zero padding when the
// crop is larger than the image.
Image center_crop(const Image& in, int crop_width, int crop_height);
// center_crop(resize_bilinear_pil(in, out_width, out_height), crop_width, crop_height), bit for bit,
// computing only the pixels the crop keeps.
Image resize_bilinear_pil_center_crop(const Image& in, int out_width, int out_height, int crop_width, int crop_height);
// PIL convert("L"): L = (19595 R + 38470 G + 7471 B + 32768) >> 16.
Image to_grayscale(const Image& rgb);
// torchvision Resize(int): the shorter side becomes `shorter`, the longer int(shorter * long / short).
std::array<int, 2> shorter_side_size(int width, int height, int shorter);  // {width, height}

// How an image becomes a model input. value = (pixel * scale - mean[c]) / std[c], channels in
// `channel_order`, laid out NCHW or NHWC with a batch dim of 1.
struct Preprocess {
  enum class Resize { kNone, kShorterSide, kExact };
  enum class Layout { kAuto, kNCHW, kNHWC };
  std::string name = "torchvision";  // preset name or spec file
  Resize resize = Resize::kShorterSide;
  int resize_shorter = 0;            // kShorterSide; 0: crop / crop_fraction
  int resize_height = 0, resize_width = 0;  // kExact; 0: the model's input size
  double crop_fraction = 0.875;      // for deriving the resize from the crop (224 -> 256, 299 -> 342)
  bool crop = true;
  int crop_height = 0, crop_width = 0;      // 0: the model's input size
  std::string interpolation = "bilinear";   // "bilinear" (PIL, antialiased) or "nearest"
  double scale = 1.0 / 255.0;
  std::array<double, 3> mean = {0.485, 0.456, 0.406};  // in the output channel order
  std::array<double, 3> std = {0.229, 0.224, 0.225};
  bool bgr = false;
  Layout layout = Layout::kAuto;
  Layout native_layout = Layout::kNCHW;     // what kAuto falls back to when the shape is unclear
  DType dtype = DType::kUndefined;          // kUndefined: float32 (the input contract adapts it)
  int channels = 3;                         // 1: grayscale (PIL "L"), resolved from the model
  int default_size = 224;                   // when the model's input size is unknown
};

// A preset by name (torchvision, inception, keras-caffe, keras-tf, raw01, raw255) or, when `spec`
// names an existing file, a JSON spec (see docs/compare.md). InputError otherwise.
Preprocess parse_preprocess(const std::string& spec);
Preprocess preprocess_preset(const std::string& name);
Preprocess preprocess_from_json(const nlohmann::json& j, const std::string& label);
const std::vector<std::string>& preprocess_preset_names();

// Fills in what the model decides: layout (kAuto: where the channel dim of a rank-4 input is),
// channel count, crop/resize sizes. InputError when the input cannot take an image.
Preprocess resolve_preprocess(Preprocess p, const ValueInfo& input);
// Runs a resolved pipeline: [1, C, H, W] or [1, H, W, C], float32 (float64/uint8/... per dtype).
Tensor preprocess_image(const Image& image, const Preprocess& resolved);
// preprocess_image in two steps, so two models with the same geometry (resize, crop, channels)
// share the expensive part: the resized, cropped image, then its scaled and laid-out tensor.
Image preprocess_geometry(const Image& image, const Preprocess& resolved);
Tensor image_to_tensor(const Image& geometry, const Preprocess& resolved);
bool same_geometry(const Preprocess& a, const Preprocess& b);
nlohmann::json preprocess_json(const Preprocess& p);

}  // namespace transfix
