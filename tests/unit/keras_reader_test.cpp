// Keras .h5 reader: tiny files written here with the HDF5 C API (no Python), checked against
// hand-computed values, plus the IR conventions (provenance, NHWC weight layouts, metadata).
#include <gtest/gtest.h>
#include <hdf5.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "core/errors.h"
#include "formats/keras/keras_reader.h"
#include "formats/model_io.h"
#include "runtime/interpreter.h"

namespace fs = std::filesystem;
using namespace transfix;

namespace {

struct TempDir {
  fs::path path;
  TempDir() {
    path = fs::temp_directory_path() / ("transfix_keras_test_" + std::to_string(::getpid()));
    fs::create_directories(path);
  }
  ~TempDir() { fs::remove_all(path); }
  std::string file(const std::string& name) const { return (path / name).string(); }
};

// Minimal HDF5 writer in Keras 2's layout.
class H5Writer {
 public:
  explicit H5Writer(const std::string& path) : file_(H5Fcreate(path.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT)) {
    lcpl_ = H5Pcreate(H5P_LINK_CREATE);
    H5Pset_create_intermediate_group(lcpl_, 1);
  }
  ~H5Writer() {
    H5Pclose(lcpl_);
    H5Fclose(file_);
  }
  void group(const std::string& path) { H5Gclose(H5Gcreate2(file_, path.c_str(), lcpl_, H5P_DEFAULT, H5P_DEFAULT)); }
  void string_attr(const std::string& object, const std::string& name, const std::string& value) {
    hid_t obj = H5Oopen(file_, object.c_str(), H5P_DEFAULT);
    hid_t type = H5Tcopy(H5T_C_S1);
    H5Tset_size(type, std::max<size_t>(1, value.size()));
    hid_t space = H5Screate(H5S_SCALAR);
    hid_t attr = H5Acreate2(obj, name.c_str(), type, space, H5P_DEFAULT, H5P_DEFAULT);
    H5Awrite(attr, type, value.c_str());
    H5Aclose(attr), H5Sclose(space), H5Tclose(type), H5Oclose(obj);
  }
  void string_list_attr(const std::string& object, const std::string& name, const std::vector<std::string>& values) {
    size_t width = 1;
    for (const auto& v : values) width = std::max(width, v.size());
    std::string buf(values.size() * width, '\0');
    for (size_t i = 0; i < values.size(); ++i) buf.replace(i * width, values[i].size(), values[i]);
    hid_t obj = H5Oopen(file_, object.c_str(), H5P_DEFAULT);
    hid_t type = H5Tcopy(H5T_C_S1);
    H5Tset_size(type, width);
    H5Tset_strpad(type, H5T_STR_NULLPAD);
    hsize_t n = values.size();
    hid_t space = H5Screate_simple(1, &n, nullptr);
    hid_t attr = H5Acreate2(obj, name.c_str(), type, space, H5P_DEFAULT, H5P_DEFAULT);
    if (n) H5Awrite(attr, type, buf.data());
    H5Aclose(attr), H5Sclose(space), H5Tclose(type), H5Oclose(obj);
  }
  void dataset(const std::string& path, const std::vector<hsize_t>& dims, const std::vector<float>& data) {
    hid_t space = H5Screate_simple(static_cast<int>(dims.size()), dims.data(), nullptr);
    hid_t ds = H5Dcreate2(file_, path.c_str(), H5T_IEEE_F32LE, space, lcpl_, H5P_DEFAULT, H5P_DEFAULT);
    H5Dwrite(ds, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, data.data());
    H5Dclose(ds), H5Sclose(space);
  }

 private:
  hid_t file_, lcpl_;
};

// Sequential: Conv2D 2x2 valid (1 -> 2 channels, bias) on [N, 3, 3, 1], then ReLU(max_value 6).
const char* kConfig = R"({"class_name": "Sequential", "config": {"name": "seq", "layers": [
  {"class_name": "Conv2D", "config": {"name": "conv", "batch_input_shape": [null, 3, 3, 1], "filters": 2,
   "kernel_size": [2, 2], "strides": [1, 1], "padding": "valid", "activation": "linear", "use_bias": true}},
  {"class_name": "ReLU", "config": {"name": "relu", "max_value": 6.0}}]}})";

// HWIO kernel [2, 2, 1, 2]: k[h][w][0][f] = 1 + h*4 + w*2 + f (filter 0: 1, 3, 5, 7; filter 1: 2, 4, 6, 8).
const std::vector<float> kKernel{1, 2, 3, 4, 5, 6, 7, 8};

void write_model(const std::string& path, bool with_config, const std::string& root = "model_weights") {
  H5Writer w(path);
  if (with_config) w.string_attr("/", "model_config", kConfig);
  w.string_attr("/", "keras_version", "2.4.0");
  const std::string r = root.empty() ? "/" : "/" + root;
  if (!root.empty()) w.group(r);
  w.string_list_attr(r, "layer_names", {"conv", "relu"});
  w.group(r + "/conv");
  w.group(r + "/relu");
  w.string_list_attr(r + "/conv", "weight_names", {"conv/kernel:0", "conv/bias:0"});
  w.string_list_attr(r + "/relu", "weight_names", {});
  w.dataset(r + "/conv/conv/kernel:0", {2, 2, 1, 2}, kKernel);
  w.dataset(r + "/conv/conv/bias:0", {2}, {0.5f, -100.0f});
}

std::vector<float> run_on(const Model& m, const std::vector<float>& x) {
  Interpreter interp(m);
  auto out = interp.run({{m.graph.inputs[0].name, Tensor::from_vector<float>(x, {1, 3, 3, 1})}});
  const Tensor& y = out.at(m.graph.outputs[0].name);
  return std::vector<float>(y.data<float>(), y.data<float>() + y.numel());
}

TEST(KerasReader, LowersSequentialWithProvenanceAndHandComputedOutput) {
  TempDir dir;
  write_model(dir.file("m.h5"), true);
  Model m = load_model(dir.file("m.h5"));
  EXPECT_EQ(m.meta.format, "keras");
  EXPECT_EQ(m.meta.producer_version, "2.4.0");
  EXPECT_EQ(m.meta.props.at("input_contract.conv_input.layout"), "NHWC");
  ASSERT_EQ(m.graph.inputs.size(), 1u);
  EXPECT_EQ(m.graph.inputs[0].name, "conv_input");  // Keras' name for a Sequential's implicit input
  EXPECT_EQ(m.graph.inputs[0].shape, (Shape{-1, 3, 3, 1}));
  const Node& conv = m.graph.nodes.at(0);
  EXPECT_EQ(conv.op_type, "Conv");
  EXPECT_EQ(conv.attr_string("layout", ""), "NHWC");
  EXPECT_EQ(conv.attr_string("weight_layout", ""), "OHWI");
  EXPECT_EQ(conv.prov.format, "keras");
  EXPECT_EQ(conv.prov.op_type, "Conv2D");
  EXPECT_EQ(conv.prov.name, "conv");
  // HWIO -> OHWI: filter 0 first.
  const Tensor& w = m.graph.initializers.at(conv.inputs[1]);
  EXPECT_EQ(w.shape(), (Shape{2, 2, 2, 1}));
  EXPECT_EQ(std::vector<float>(w.data<float>(), w.data<float>() + 8), (std::vector<float>{1, 3, 5, 7, 2, 4, 6, 8}));
  EXPECT_EQ(m.graph.nodes.back().prov.op_type, "ReLU");

  // x = [[1, 0, 0], [0, 1, 0], [0, 0, 1]]: every 2x2 window touches the diagonal.
  // out[0, 0] filter 0 = 1*1 + 7*1 + 0.5 = 8.5 -> clipped to 6; filter 1 = 2 + 8 - 100 -> 0.
  // out[0, 1]: window [[0, 0], [1, 0]] -> filter 0 = 5 + 0.5; out[1, 0]: [[0, 1], [0, 0]] -> 3 + 0.5.
  const std::vector<float> y = run_on(m, {1, 0, 0, 0, 1, 0, 0, 0, 1});
  EXPECT_EQ(y, (std::vector<float>{6, 0, 5.5f, 0, 3.5f, 0, 6, 0}));
}

TEST(KerasReader, WeightsOnlyFileWithArchitectureJson) {
  TempDir dir;
  write_model(dir.file("w.h5"), false, "");
  // Without a JSON: an error that says where to put it.
  try {
    load_model(dir.file("w.h5"));
    FAIL() << "no exception";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("w.json"), std::string::npos) << e.what();
  }
  std::ofstream(dir.file("arch.json")) << kConfig;
  Model explicit_json = read_keras(dir.file("w.h5"), dir.file("arch.json"));
  fs::copy_file(dir.file("arch.json"), dir.file("w.json"));
  Model beside = load_model(dir.file("w.h5"));
  const std::vector<float> x{1, 0, 0, 0, 1, 0, 0, 0, 1};
  EXPECT_EQ(run_on(explicit_json, x), (std::vector<float>{6, 0, 5.5f, 0, 3.5f, 0, 6, 0}));
  EXPECT_EQ(run_on(beside, x), run_on(explicit_json, x));
}

TEST(KerasReader, MissingWeightsGroupIsAnInputError) {
  TempDir dir;
  {
    H5Writer w(dir.file("empty.h5"));
    w.string_attr("/", "model_config", kConfig);
  }
  try {
    load_model(dir.file("empty.h5"));
    FAIL() << "no exception";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("layer_names"), std::string::npos) << e.what();
  }
}

}  // namespace
