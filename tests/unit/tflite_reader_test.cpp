// TFLite reader: structure of the real models in ../shared/models (ops, shapes, quantization,
// metadata), hostile files (every one an InputError, never a crash), and small hand-built models
// whose NHWC results are computed by hand.
#include <gtest/gtest.h>

#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>

#include "core/errors.h"
#include "formats/model_io.h"
#include "formats/tflite/tflite_reader.h"
#include "runtime/interpreter.h"
#include "tflite_schema_generated.h"

namespace fs = std::filesystem;
using namespace transfix;

namespace {

std::string shared_models() {
  if (const char* env = std::getenv("TRANSFIX_SHARED_MODELS")) return env;
  return TRANSFIX_SOURCE_DIR "/../shared/models";
}

#define REQUIRE_SHARED(file)                                                                          \
  const std::string path = shared_models() + "/" + file;                                              \
  if (!fs::exists(path)) GTEST_SKIP() << path << " not found (third-party models live beside the repo; " \
                                         "set TRANSFIX_SHARED_MODELS)"

std::map<std::string, int> op_histogram(const Model& m) {
  std::map<std::string, int> h;
  for (const Node& n : m.graph.nodes) h[(n.domain.empty() ? "" : n.domain + ":") + n.op_type]++;
  return h;
}

// ---------------------------------------------------------------------------------------------
// Hand-built models: one CONV_2D (input [1, 3, 3, 1], filter [1, 2, 2, 1], bias [1], VALID, stride 1).

struct ConvModelSpec {
  std::vector<float> filter{1, 2, 3, 4};
  std::vector<int32_t> filter_shape{1, 2, 2, 1};
  uint32_t filter_buffer = 1;
  std::vector<float> weight_scales;     // quantization of the filter, if any
  int32_t quantized_dimension = 0;
  tflite::ActivationFunctionType activation = tflite::ActivationFunctionType::NONE;
};

std::string build_conv_model(const ConvModelSpec& spec) {
  flatbuffers::FlatBufferBuilder b;
  auto bytes_of = [&](const void* p, size_t n) { return b.CreateVector(static_cast<const uint8_t*>(p), n); };
  std::vector<flatbuffers::Offset<tflite::Buffer>> buffers;
  buffers.push_back(tflite::CreateBuffer(b));  // 0: the empty sentinel
  buffers.push_back(tflite::CreateBuffer(b, bytes_of(spec.filter.data(), spec.filter.size() * 4)));
  const float bias = 0.5f;
  buffers.push_back(tflite::CreateBuffer(b, bytes_of(&bias, 4)));
  const char version[] = "2.3.0";
  buffers.push_back(tflite::CreateBuffer(b, bytes_of(version, sizeof version)));

  flatbuffers::Offset<tflite::QuantizationParameters> wq = 0;
  if (!spec.weight_scales.empty())
    wq = tflite::CreateQuantizationParameters(b, 0, 0, b.CreateVector(spec.weight_scales),
                                              b.CreateVector(std::vector<int64_t>(spec.weight_scales.size(), 0)),
                                              tflite::QuantizationDetails::NONE, 0, spec.quantized_dimension);
  std::vector<flatbuffers::Offset<tflite::Tensor>> tensors{
      tflite::CreateTensor(b, b.CreateVector(std::vector<int32_t>{1, 3, 3, 1}), tflite::TensorType::FLOAT32, 0,
                           b.CreateString("x")),
      tflite::CreateTensor(b, b.CreateVector(spec.filter_shape), tflite::TensorType::FLOAT32, spec.filter_buffer,
                           b.CreateString("filter"), wq),
      tflite::CreateTensor(b, b.CreateVector(std::vector<int32_t>{1}), tflite::TensorType::FLOAT32, 2,
                           b.CreateString("bias")),
      tflite::CreateTensor(b, b.CreateVector(std::vector<int32_t>{1, 2, 2, 1}), tflite::TensorType::FLOAT32, 0,
                           b.CreateString("y")),
  };
  auto options = tflite::CreateConv2DOptions(b, tflite::Padding::VALID, 1, 1, spec.activation);
  auto op = tflite::CreateOperator(b, 0, b.CreateVector(std::vector<int32_t>{0, 1, 2}),
                                   b.CreateVector(std::vector<int32_t>{3}), tflite::BuiltinOptions::Conv2DOptions,
                                   options.Union());
  auto subgraph = tflite::CreateSubGraph(b, b.CreateVector(tensors), b.CreateVector(std::vector<int32_t>{0}),
                                         b.CreateVector(std::vector<int32_t>{3}), b.CreateVector(std::vector{op}),
                                         b.CreateString("main"));
  auto code = tflite::CreateOperatorCode(b, 3, 0, 1, tflite::BuiltinOperator::CONV_2D);
  auto meta = tflite::CreateMetadata(b, b.CreateString("min_runtime_version"), 3);
  auto model = tflite::CreateModel(b, 3, b.CreateVector(std::vector{code}), b.CreateVector(std::vector{subgraph}),
                                   b.CreateString("hand built"), b.CreateVector(buffers), 0,
                                   b.CreateVector(std::vector{meta}));
  b.Finish(model, tflite::ModelIdentifier());
  return std::string(reinterpret_cast<const char*>(b.GetBufferPointer()), b.GetSize());
}

Model read_bytes(const std::string& bytes) {
  auto storage = Storage::allocate(bytes.size());
  std::memcpy(storage->data, bytes.data(), bytes.size());
  return read_tflite_storage(storage, "test.tflite");
}

void expect_input_error(const std::string& bytes, const std::string& fragment) {
  try {
    read_bytes(bytes);
    ADD_FAILURE() << "no error; expected one mentioning '" << fragment << "'";
  } catch (const UnsupportedError& e) {
    ADD_FAILURE() << "UnsupportedError instead of InputError: " << e.what();
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find(fragment), std::string::npos) << e.what();
  }
}

}  // namespace

TEST(TfliteReader, HandBuiltConvReadsAndRunsNhwc) {
  Model m = read_bytes(build_conv_model({}));
  EXPECT_EQ(m.meta.format, "tflite");
  EXPECT_EQ(m.meta.producer_name, "hand built");
  EXPECT_EQ(m.meta.props.at("min_runtime_version"), "2.3.0");
  ASSERT_EQ(m.graph.nodes.size(), 1u);
  const Node& conv = m.graph.nodes[0];
  EXPECT_EQ(conv.op_type, "Conv");
  EXPECT_EQ(conv.attr_string("layout", ""), "NHWC");
  EXPECT_EQ(conv.attr_string("weight_layout", ""), "OHWI");
  EXPECT_EQ(conv.attr_string("auto_pad", ""), "VALID");
  EXPECT_EQ(conv.prov.format, "tflite");
  EXPECT_EQ(conv.prov.op_type, "CONV_2D");
  EXPECT_EQ(conv.prov.name, "y");
  EXPECT_EQ(conv.prov.index, 0);
  // Weights view the file's bytes: not copied.
  const Tensor& w = m.graph.initializers.at("filter");
  EXPECT_EQ(w.shape(), (Shape{1, 2, 2, 1}));

  // x = 1..9 in a 3x3 image, filter [[1, 2], [3, 4]], bias 0.5:
  //   y[0,0] = 1*1 + 2*2 + 4*3 + 5*4 + 0.5 = 37.5, y[0,1] = 2 + 6 + 15 + 24 + 0.5 = 47.5,
  //   y[1,0] = 4 + 10 + 21 + 32 + 0.5 = 67.5,      y[1,1] = 5 + 12 + 24 + 36 + 0.5 = 77.5
  Tensor x = Tensor::from_vector<float>({1, 2, 3, 4, 5, 6, 7, 8, 9}, {1, 3, 3, 1});
  for (Precision p : {Precision::kF32, Precision::kF64}) {
    Interpreter interp(m, {p});
    Tensor y = interp.run({{"x", x}}).at("y");
    ASSERT_EQ(y.shape(), (Shape{1, 2, 2, 1}));
    EXPECT_EQ(y.to_f64_vector(), (std::vector<double>{37.5, 47.5, 67.5, 77.5})) << precision_name(p);
  }
}

TEST(TfliteReader, FusedActivationBecomesItsOwnNode) {
  ConvModelSpec spec;
  spec.filter = {-1, -1, -1, 1};  // y = x[1,1] - x[0,0] - x[0,1] - x[1,0] + 0.5: all negative for x = 1..9
  spec.activation = tflite::ActivationFunctionType::RELU6;
  Model m = read_bytes(build_conv_model(spec));
  ASSERT_EQ(m.graph.nodes.size(), 2u);
  EXPECT_EQ(m.graph.nodes[0].outputs[0], "y/pre_activation");
  EXPECT_EQ(m.graph.nodes[1].op_type, "Clip");
  EXPECT_EQ(m.graph.nodes[1].prov.op_type, "CONV_2D");
  Interpreter interp(m);
  Tensor y = interp.run({{"x", Tensor::from_vector<float>({1, 2, 3, 4, 5, 6, 7, 8, 9}, {1, 3, 3, 1})}}).at("y");
  EXPECT_EQ(y.to_f64_vector(), (std::vector<double>{0, 0, 0, 0}));
}

TEST(TfliteReader, HostileFilesAreInputErrors) {
  const std::string good = build_conv_model({});
  expect_input_error("", "not a valid TFLite flatbuffer");
  expect_input_error(good.substr(0, good.size() / 2), "not a valid TFLite flatbuffer");  // truncated
  std::mt19937 rng(1);
  std::string noise(4096, '\0');
  for (char& c : noise) c = static_cast<char>(rng());
  expect_input_error(noise, "not a valid TFLite flatbuffer");
  // Right identifier, garbage offsets: the verifier catches it.
  std::string bad_root = noise;
  std::memcpy(bad_root.data() + 4, "TFL3", 4);
  expect_input_error(bad_root, "not a valid TFLite flatbuffer");
  // A corrupted root offset inside an otherwise valid file.
  std::string corrupt = good;
  uint32_t huge = 0x7ffffff0;
  std::memcpy(corrupt.data(), &huge, 4);
  expect_input_error(corrupt, "not a valid TFLite flatbuffer");
}

TEST(TfliteReader, InconsistentModelsAreInputErrors) {
  ConvModelSpec out_of_range;
  out_of_range.filter_buffer = 99;
  expect_input_error(build_conv_model(out_of_range), "buffer index 99 out of range");

  ConvModelSpec size_mismatch;
  size_mismatch.filter_shape = {1, 3, 3, 1};  // 9 floats declared, 4 stored
  expect_input_error(build_conv_model(size_mismatch), "buffer holds 16 bytes");

  ConvModelSpec bad_quant;
  bad_quant.weight_scales = {0.5f, 0.25f, 0.125f};  // 3 scales for dimension 0 of size 1
  expect_input_error(build_conv_model(bad_quant), "3 scales for dimension 0");

  ConvModelSpec bad_axis;
  bad_axis.weight_scales = {0.5f, 0.25f};
  bad_axis.quantized_dimension = 7;
  expect_input_error(build_conv_model(bad_axis), "quantized_dimension 7 out of range");

  ConvModelSpec negative;
  negative.filter_shape = {1, -2, 2, 1};
  expect_input_error(build_conv_model(negative), "negative dimension");

  ConvModelSpec huge;
  huge.filter_shape = {1 << 30, 1 << 30, 1 << 30, 1};
  expect_input_error(build_conv_model(huge), "too large");
}

TEST(TfliteReader, LoadModelDispatchesOnTheTfl3Identifier) {
  const fs::path dir = fs::temp_directory_path() / "transfix_tflite_reader_test";
  fs::create_directories(dir);
  const fs::path file = dir / "conv.bin";  // no .tflite extension: the identifier decides
  std::ofstream(file, std::ios::binary) << build_conv_model({});
  Model m = load_model(file.string());
  EXPECT_EQ(m.meta.format, "tflite");
  EXPECT_EQ(m.graph.nodes.size(), 1u);
  fs::remove_all(dir);
}

// ---------------------------------------------------------------------------------------------
// Real models.

TEST(TfliteSharedModels, KeywordSpottingFloatStructure) {
  REQUIRE_SHARED("mlcommons_tiny/kws_dscnn_float.tflite");
  Model m = load_model(path);
  EXPECT_EQ(m.meta.format, "tflite");
  EXPECT_EQ(m.meta.producer_name, "MLIR Converted.");
  EXPECT_FALSE(m.meta.props.at("min_runtime_version").empty());
  ASSERT_EQ(m.graph.inputs.size(), 1u);
  EXPECT_EQ(m.graph.inputs[0].shape, (Shape{1, 49, 10, 1}));
  EXPECT_EQ(m.graph.inputs[0].dtype, DType::kF32);
  ASSERT_EQ(m.graph.outputs.size(), 1u);
  EXPECT_EQ(m.graph.outputs[0].shape, (Shape{1, 12}));
  // 13 operators: 5 CONV_2D + 4 DEPTHWISE_CONV_2D (fused RELU each), pool, reshape, FC, softmax.
  std::map<std::string, int> ops = op_histogram(m);
  EXPECT_EQ(ops["Conv"], 9);
  EXPECT_EQ(ops["Relu"], 9);
  EXPECT_EQ(ops["AveragePool"], 1);
  EXPECT_EQ(ops["Gemm"], 1);
  EXPECT_EQ(ops["Softmax"], 1);
  // The int8 conv weights (dynamic-range quantization) are dequantized in front of their Conv.
  EXPECT_EQ(ops["DequantizeLinear"], 5);
  int depthwise = 0;
  for (const Node& n : m.graph.nodes)
    if (n.op_type == "Conv" && n.attr_string("weight_layout", "") == "1HWO") {
      ++depthwise;
      EXPECT_EQ(n.attr_string("layout", ""), "NHWC");
      EXPECT_EQ(n.prov.op_type, "DEPTHWISE_CONV_2D");
    }
  EXPECT_EQ(depthwise, 4);
}

TEST(TfliteSharedModels, QuantizedMobilenetLoadsWithQuantParamsAndRuns) {
  REQUIRE_SHARED("tflite2onnx/mobilenet_v1_0.25_128_quant.tflite");
  Model m = load_model(path);
  EXPECT_EQ(m.meta.producer_name.rfind("TOCO Converted.", 0), 0u);
  ASSERT_EQ(m.graph.inputs.size(), 1u);
  const ValueInfo& in = m.graph.inputs[0];
  EXPECT_EQ(in.dtype, DType::kU8);
  EXPECT_EQ(in.shape, (Shape{1, 128, 128, 3}));
  ASSERT_TRUE(in.quant.has_value());
  EXPECT_EQ(in.quant->scale.size(), 1u);
  EXPECT_GT(in.quant->scale[0], 0.f);
  // uint8 weights keep their dtype and carry their quantization on the tensor too.
  int quantized_constants = 0;
  for (const auto& [name, t] : m.graph.initializers)
    if (t.dtype() == DType::kU8 && t.quant()) ++quantized_constants;
  EXPECT_GE(quantized_constants, 28);
  EXPECT_EQ(op_histogram(m)[std::string(kTfliteQuantizedDomain) + ":Conv"], 28);
  // The integer kernels run it: a uint8 [1, 1001] output (values checked against TFLite in
  // tests/tflite_quant_test.sh).
  const auto outputs = Interpreter(m).run({{in.name, Tensor(DType::kU8, in.shape)}});
  const Tensor& y = outputs.at(m.graph.outputs.at(0).name);
  EXPECT_EQ(y.dtype(), DType::kU8);
  EXPECT_EQ(y.shape(), (Shape{1, 1001}));
}

TEST(TfliteSharedModels, Int8PerAxisWeights) {
  REQUIRE_SHARED("mlcommons_tiny/vww_mobilenetv1_025_96_int8.tflite");
  Model m = load_model(path);
  int per_axis = 0;
  for (const auto& [name, t] : m.graph.initializers) {
    if (t.dtype() != DType::kI8 || !t.quant() || !t.quant()->per_axis()) continue;
    ++per_axis;
    const QuantParams& q = *t.quant();
    EXPECT_EQ(static_cast<int64_t>(q.scale.size()), t.dim(q.axis)) << name;
    EXPECT_EQ(q.zero_point.size(), q.scale.size()) << name;
  }
  EXPECT_GE(per_axis, 27);  // every convolution filter
}

TEST(TfliteSharedModels, TransposeConvAndResizeLowering) {
  REQUIRE_SHARED("tflite2onnx_ops/transposeconv-samepad-stride2.float32.tflite");
  Model m = load_model(path);
  ASSERT_EQ(m.graph.nodes.size(), 1u);
  const Node& n = m.graph.nodes[0];
  EXPECT_EQ(n.op_type, "ConvTranspose");
  EXPECT_EQ(n.attr_string("auto_pad", ""), "SAME_UPPER");
  EXPECT_EQ(n.attr_ints("output_shape"), (std::vector<int64_t>{14, 14}));
  EXPECT_EQ(n.attr_ints("strides"), (std::vector<int64_t>{2, 2}));

  const std::string nn = shared_models() + "/tflite2onnx_ops/resize-nearest-neighbor.float32.tflite";
  if (!fs::exists(nn)) return;
  Model r = load_model(nn);
  ASSERT_EQ(r.graph.nodes.size(), 1u);
  EXPECT_EQ(r.graph.nodes[0].attr_string("coordinate_transformation_mode", ""), "tf_half_pixel_for_nn");
  EXPECT_EQ(r.graph.nodes[0].attr_string("nearest_mode", ""), "floor");
}
