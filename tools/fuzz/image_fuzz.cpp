// libFuzzer target: image decoding (PNG/JPEG by content: libpng, libjpeg and transfix's conversion to
// 8-bit RGB) and the preprocessing pipeline that makes a model input of it.
// Input: byte 0 picks the pipeline (bits 0-2: preset; bits 3-4: the model input's layout, NCHW /
// NHWC / 1-channel NCHW; bit 7: a JSON spec follows, up to a NUL byte), byte 1 the model's input
// side (1-64; 0: unknown, symbolic dims), the rest is the image file.
#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/errors.h"
#include "data/image.h"
#include "fuzz_common.h"

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  transfix_fuzz::init();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace transfix;
  if (size < 2) return 0;
  const uint8_t control = data[0], side_byte = data[1];
  std::string rest(reinterpret_cast<const char*>(data + 2), size - 2);
  try {
    Preprocess p;
    if (control & 0x80) {
      const size_t nul = rest.find('\0');
      const std::string spec = rest.substr(0, nul);
      rest = nul == std::string::npos ? std::string() : rest.substr(nul + 1);
      const nlohmann::json j = nlohmann::json::parse(spec, nullptr, /*allow_exceptions=*/false);
      if (j.is_discarded()) return 0;
      p = preprocess_from_json(j, "fuzz_spec.json");
    } else {
      const auto& names = preprocess_preset_names();
      p = preprocess_preset(names[control % names.size()]);
    }
    const int64_t side = side_byte == 0 ? -1 : 1 + side_byte % 64;
    ValueInfo in;
    in.name = "input";
    in.dtype = DType::kF32;
    in.has_shape = true;
    switch ((control >> 3) % 3) {
      case 0: in.shape = {1, 3, side, side}; break;
      case 1: in.shape = {1, side, side, 3}; break;
      default: in.shape = {1, 1, side, side}; break;
    }
    if (side < 0) in.dim_params = {"", "", "h", "w"};
    const Image image = decode_image(rest, "fuzz.img");
    const Preprocess resolved = resolve_preprocess(p, in);
    preprocess_image(image, resolved);
  } catch (const InputError&) {
  }
  return 0;
}
