// ONNX writer and round trips: read -> write -> read keeps the graph (nodes, attributes,
// initializers bit-exact, inputs/outputs, meta); what we write passes onnx::checker; outputs of
// runnable models do not change; external data, atomic writes and model_io dispatch.
#include <gtest/gtest.h>
#include <onnx/checker.h>

#include <cmath>

#include "formats/model_io.h"
#include "formats/onnx/onnx_reader.h"
#include "formats/onnx/onnx_writer.h"
#include "onnx_test_util.h"
#include "runtime/interpreter.h"

using namespace transfix;
using namespace transfix::testing;

namespace {

const fs::path kTestData = "/usr/share/libonnx-testdata/data";

bool have_test_data() { return fs::exists(kTestData / "pytorch-converted/test_Conv2d/model.onnx"); }

Model round_trip_bytes(const Model& m) { return read_onnx_bytes(model_to_onnx_bytes(m), "", "<round trip>"); }

// Every file in `dir` except those the test put there: the writer must leave no temporaries behind.
std::vector<std::string> listing(const fs::path& dir) {
  std::vector<std::string> names;
  for (const auto& e : fs::directory_iterator(dir)) names.push_back(e.path().filename().string());
  std::sort(names.begin(), names.end());
  return names;
}

// A model exercising everything the IR can say: every attribute type, symbolic dims, metadata,
// named and unnamed nodes, a custom domain, initializers of several dtypes.
onnx::ModelProto feature_model() {
  onnx::ModelProto m = empty_model(13, 8);
  m.set_producer_version("9.9");
  m.set_domain("org.example");
  m.set_model_version(42);
  m.set_doc_string("a model with every feature");
  auto* prop = m.add_metadata_props();
  prop->set_key("author");
  prop->set_value("tests");
  auto* custom = m.add_opset_import();
  custom->set_domain("com.example");
  custom->set_version(2);

  auto* g = m.mutable_graph();
  auto* x = add_value(g->mutable_input(), "x", onnx::TensorProto::FLOAT, {0, 3});
  x->mutable_type()->mutable_tensor_type()->mutable_shape()->mutable_dim(0)->set_dim_param("batch");
  x->set_doc_string("the input");
  add_value(g->mutable_output(), "y", onnx::TensorProto::FLOAT, {0, 3})
      ->mutable_type()->mutable_tensor_type()->mutable_shape()->mutable_dim(0)->set_dim_param("batch");
  add_value(g->mutable_output(), "z", onnx::TensorProto::FLOAT, {});
  add_value(g->mutable_value_info(), "t", onnx::TensorProto::FLOAT, {0, 3})
      ->mutable_type()->mutable_tensor_type()->mutable_shape()->mutable_dim(0)->clear_dim_value();

  add_float_init(g, "w", {3}, {1.5f, -0.0f, std::nanf("")});
  auto* i8 = g->add_initializer();
  i8->set_name("q");
  i8->set_data_type(onnx::TensorProto::INT8);
  i8->add_dims(4);
  for (int v : {-128, -1, 0, 127}) i8->add_int32_data(v);  // typed field: the writer turns it into raw_data
  auto* b = g->add_initializer();
  b->set_name("flag");
  b->set_data_type(onnx::TensorProto::BOOL);
  b->set_raw_data(std::string("\x01", 1));  // scalar
  auto* h = g->add_initializer();
  h->set_name("half");
  h->set_data_type(onnx::TensorProto::FLOAT16);
  h->add_dims(2);
  h->set_raw_data(std::string("\x00\x3c\x00\xc0", 4));  // 1.0, -2.0

  add_node(g, "Add", {"x", "w"}, {"t"}, "add_w");
  auto* c = add_node(g, "Custom", {"t", "q", "", "flag"}, {"y", ""});  // unnamed, omitted optional in/out
  c->set_domain("com.example");
  using A = onnx::AttributeProto;
  auto attr = [&](const std::string& name, A::AttributeType type) {
    auto* a = c->add_attribute();
    a->set_name(name);
    a->set_type(type);
    return a;
  };
  attr("i", A::INT)->set_i(-7);
  attr("f", A::FLOAT)->set_f(0.1f);
  attr("s", A::STRING)->set_s(std::string("bytes\0inside", 12));
  auto* t = attr("t", A::TENSOR)->mutable_t();
  t->set_data_type(onnx::TensorProto::INT64);
  t->add_dims(2);
  t->add_int64_data(INT64_MIN);
  t->add_int64_data(INT64_MAX);
  auto* ints = attr("ints", A::INTS);
  for (int64_t v : {1, -2, 3}) ints->add_ints(v);
  auto* floats = attr("floats", A::FLOATS);
  for (float v : {0.25f, 3.4e38f, -1e-45f}) floats->add_floats(v);
  auto* strings = attr("strings", A::STRINGS);
  strings->add_strings("a");
  strings->add_strings("");
  attr("empty_ints", A::INTS);
  add_node(g, "Relu", {"t"}, {"z"}, "relu");
  return m;
}

}  // namespace

TEST(OnnxWriter, EveryFeatureRoundTrips) {
  ScratchDir dir;
  save_proto(feature_model(), dir.file("in.onnx"));
  Model a = read_onnx(dir.file("in.onnx"));
  write_onnx(a, dir.file("out.onnx"));
  Model b = read_onnx(dir.file("out.onnx"));
  expect_models_equal(a, b);
  expect_models_equal(a, round_trip_bytes(a));

  // Spot checks against the source values, so the test does not only compare the writer with itself.
  EXPECT_EQ(b.graph.inputs.at(0).dim_params, (std::vector<std::string>{"batch", ""}));
  EXPECT_EQ(b.graph.inputs.at(0).doc, "the input");
  EXPECT_EQ(b.meta.props.at("author"), "tests");
  EXPECT_EQ(b.meta.opsets.at("com.example"), 2);
  const Node& custom = b.graph.nodes.at(1);
  EXPECT_EQ(custom.prov.name, "");  // was unnamed in the source, stays unnamed in the file
  EXPECT_EQ(custom.inputs, (std::vector<std::string>{"t", "q", "", "flag"}));
  EXPECT_EQ(custom.attr_float("f", 0), static_cast<double>(0.1f));
  EXPECT_EQ(custom.attr_string("s", ""), std::string("bytes\0inside", 12));
  EXPECT_EQ(custom.attr_floats("floats").at(2), static_cast<double>(-1e-45f));  // denormal survives
  EXPECT_EQ(custom.attr_tensor("t")->data<int64_t>()[0], INT64_MIN);
  EXPECT_TRUE(custom.attr_ints("empty_ints").empty());
  const Tensor& w = b.graph.initializers.at("w");
  EXPECT_EQ(w.data<float>()[0], 1.5f);
  EXPECT_TRUE(std::signbit(w.data<float>()[1]));
  EXPECT_TRUE(std::isnan(w.data<float>()[2]));
  EXPECT_EQ(b.graph.initializers.at("q").data<int8_t>()[0], -128);
  EXPECT_EQ(b.graph.initializers.at("half").to_f64_vector(), (std::vector<double>{1.0, -2.0}));
  EXPECT_EQ(b.graph.initializers.at("flag").shape(), Shape{});

  // Initializers are written as raw_data.
  onnx::ModelProto p = model_to_onnx(a);
  for (const auto& init : p.graph().initializer()) EXPECT_TRUE(init.has_raw_data()) << init.name();
  EXPECT_EQ(listing(dir.path()), (std::vector<std::string>{"in.onnx", "out.onnx"}));
}

TEST(OnnxWriter, OutputPassesOnnxChecker) {
  ScratchDir dir;
  // The checker knows no schema for com.example:Custom; use a model with standard ops only.
  onnx::ModelProto m = identity_model();
  auto* g = m.mutable_graph();
  add_float_init(g, "W", {1, 1, 1, 1}, {2.0f});
  add_value(g->mutable_input(), "img", onnx::TensorProto::FLOAT, {1, 1, 4, 4});
  add_value(g->mutable_output(), "out", onnx::TensorProto::FLOAT, {1, 1, 2, 2});
  auto* conv = add_node(g, "Conv", {"img", "W"}, {"out"}, "conv");
  auto* strides = conv->add_attribute();
  strides->set_name("strides");
  strides->set_type(onnx::AttributeProto::INTS);
  strides->add_ints(2);
  strides->add_ints(2);
  save_proto(m, dir.file("in.onnx"));
  Model model = read_onnx(dir.file("in.onnx"));
  write_onnx(model, dir.file("out.onnx"));
  EXPECT_NO_THROW(onnx::checker::check_model(dir.file("out.onnx")));
  EXPECT_NO_THROW(onnx::checker::check_model(model_to_onnx(model)));
}

TEST(OnnxWriter, ModelBuiltInCodeGetsValidMeta) {
  // No ir_version, no opsets, no graph name: the writer fills in what ONNX requires.
  Model m;
  m.graph.inputs.push_back(float_info("x", {2}));
  m.graph.outputs.push_back(float_info("y", {2}));
  Node n;
  n.op_type = "Relu";
  n.name = "relu";
  n.inputs = {"x"};
  n.outputs = {"y"};
  m.graph.nodes.push_back(n);
  onnx::ModelProto p = model_to_onnx(m);
  EXPECT_EQ(p.graph().node(0).name(), "relu");
  EXPECT_GE(p.ir_version(), 7);
  ASSERT_EQ(p.opset_import_size(), 1);
  EXPECT_NO_THROW(onnx::checker::check_model(p));
}

TEST(OnnxWriter, NodesAreWrittenInTopologicalOrder) {
  Model m;
  m.graph.inputs.push_back(float_info("x", {1}));
  m.graph.outputs.push_back(float_info("z", {1}));
  Node second{"Relu", "", "second", {"y"}, {"z"}, {}, {}};
  Node first{"Relu", "", "first", {"x"}, {"y"}, {}, {}};
  m.graph.nodes = {second, first};  // consumer before producer
  onnx::ModelProto p = model_to_onnx(m);
  EXPECT_EQ(p.graph().node(0).name(), "first");
  EXPECT_EQ(p.graph().node(1).name(), "second");
  EXPECT_NO_THROW(onnx::checker::check_model(p));

  m.graph.nodes[0].inputs = {"nowhere"};
  EXPECT_NE(input_error_of([&] { model_to_onnx(m); }).find("nowhere"), std::string::npos);
}

TEST(OnnxWriter, OldIrVersionListsInitializersAsInputs) {
  if (!have_test_data()) GTEST_SKIP() << "libonnx-testdata not installed";
  std::string path = (kTestData / "pytorch-converted/test_Conv2d/model.onnx").string();
  Model a = read_onnx(path);
  ASSERT_EQ(a.meta.ir_version, 3);
  ASSERT_EQ(a.graph.inputs.size(), 1u);  // the reader separates the weights from the real input
  onnx::ModelProto p = model_to_onnx(a);
  std::vector<std::string> names;
  for (const auto& in : p.graph().input()) names.push_back(in.name());
  EXPECT_EQ(names, (std::vector<std::string>{"0", "1", "2"}));
  EXPECT_NO_THROW(onnx::checker::check_model(p));
  expect_models_equal(a, round_trip_bytes(a));

  // The same model declared as IR 4+ does not list them.
  a.meta.ir_version = 7;
  p = model_to_onnx(a);
  EXPECT_EQ(p.graph().input_size(), 1);
  EXPECT_NO_THROW(onnx::checker::check_model(p));
}

TEST(OnnxWriter, ConformanceModelsRoundTripAndKeepTheirOutputs) {
  if (!have_test_data()) GTEST_SKIP() << "libonnx-testdata not installed";
  int round_tripped = 0, ran = 0, checked = 0;
  for (const char* suite : {"node", "pytorch-converted", "pytorch-operator", "simple"}) {
    for (const auto& entry : fs::directory_iterator(kTestData / suite)) {
      fs::path model_path = entry.path() / "model.onnx";
      if (!fs::exists(model_path)) continue;
      SCOPED_TRACE(model_path.string());
      Model a;
      try {
        a = read_onnx(model_path.string());
      } catch (const UnsupportedError&) {
        continue;  // sequences, subgraphs, strings: not representable, nothing to write
      }
      std::string bytes = model_to_onnx_bytes(a);
      Model b = read_onnx_bytes(bytes, "", "<round trip>");
      expect_models_equal(a, b);
      ++round_tripped;

      // When the source passes the ONNX checker, what we write must too.
      onnx::ModelProto src, written;
      ASSERT_TRUE(src.ParseFromString(read_bytes(model_path.string())));
      ASSERT_TRUE(written.ParseFromString(bytes));
      bool src_valid = true;
      try {
        onnx::checker::check_model(src);
      } catch (const std::exception&) {
        src_valid = false;
      }
      if (src_valid) {
        EXPECT_NO_THROW(onnx::checker::check_model(written));
        ++checked;
      }

      // Where kernels exist, both models compute bit-identical outputs on the official inputs.
      if (!Interpreter::unsupported_ops(a).empty()) continue;
      fs::path data = entry.path() / "test_data_set_0";
      std::map<std::string, Tensor> inputs;
      try {
        for (size_t i = 0; i < a.graph.inputs.size(); ++i) {
          fs::path f = data / ("input_" + std::to_string(i) + ".pb");
          if (!fs::exists(f)) break;
          inputs[a.graph.inputs[i].name] = read_onnx_tensor_file(f.string());
        }
        auto out_a = Interpreter(a).run(inputs);
        auto out_b = Interpreter(b).run(inputs);
        ASSERT_EQ(out_a.size(), out_b.size());
        for (const auto& [name, t] : out_a) EXPECT_TRUE(tensors_identical(t, out_b.at(name))) << name;
        ++ran;
      } catch (const std::exception&) {
        // kernel limitations on this case are the conformance runner's business, not the writer's
      }
    }
  }
  EXPECT_GT(round_tripped, 800);
  EXPECT_GT(checked, 700);
  EXPECT_GT(ran, 100);
  std::printf("round-tripped %d models, %d checked by onnx::checker, %d run and compared\n", round_tripped, checked, ran);
}

TEST(OnnxWriter, IdentityModelRunsTheSameAfterWriting) {
  ScratchDir dir;
  save_proto(identity_model(), dir.file("id.onnx"));
  Model a = read_onnx(dir.file("id.onnx"));
  write_onnx(a, dir.file("id2.onnx"));
  Model b = read_onnx(dir.file("id2.onnx"));
  auto x = Tensor::from_vector<float>({1, -2, 3.5f, 0, -0.0f, 6}, {2, 3});
  auto y = Interpreter(b).run({{"x", x}}).at("y");
  EXPECT_EQ(y.to_f64_vector(), (std::vector<double>{1, -2, 3.5, 0, -0.0, 6}));
  EXPECT_EQ(b.graph.nodes.at(0).name, "id");
}

TEST(OnnxWriter, ExternalDataOnRequest) {
  ScratchDir dir;
  onnx::ModelProto m = identity_model();
  std::vector<float> big(1000);
  for (size_t i = 0; i < big.size(); ++i) big[i] = static_cast<float>(i) * 0.5f;
  add_float_init(m.mutable_graph(), "big1", {1000}, big);
  add_float_init(m.mutable_graph(), "big2", {10, 100}, big);
  add_float_init(m.mutable_graph(), "small", {2}, {1, 2});
  save_proto(m, dir.file("in.onnx"));
  Model a = read_onnx(dir.file("in.onnx"));

  fs::create_directories(dir.path() / "out");
  OnnxWriteOptions opt;
  opt.external_data = OnnxWriteOptions::ExternalData::kAlways;
  write_onnx(a, (dir.path() / "out/model.onnx").string(), opt);
  EXPECT_EQ(listing(dir.path() / "out"), (std::vector<std::string>{"model.onnx", "model.onnx.data"}));

  onnx::ModelProto written;
  ASSERT_TRUE(written.ParseFromString(read_bytes((dir.path() / "out/model.onnx").string())));
  for (const auto& t : written.graph().initializer()) {
    if (t.name() == "small") {
      EXPECT_TRUE(t.has_raw_data());  // below external_min_bytes: stays inline
      continue;
    }
    ASSERT_EQ(t.data_location(), onnx::TensorProto::EXTERNAL) << t.name();
    std::map<std::string, std::string> kv;
    for (const auto& e : t.external_data()) kv[e.key()] = e.value();
    EXPECT_EQ(kv["location"], "model.onnx.data");  // relative to the model's folder
    EXPECT_EQ(std::stoll(kv["offset"]) % 4096, 0);
    EXPECT_EQ(kv["length"], "4000");
  }
  EXPECT_NO_THROW(onnx::checker::check_model((dir.path() / "out/model.onnx").string()));
  // Read back from another working directory's point of view: locations resolve against the model.
  Model b = read_onnx((dir.path() / "out/model.onnx").string());
  expect_models_equal(a, b);
  EXPECT_EQ(b.graph.initializers.at("big2").data<float>()[999], 499.5f);
}

TEST(OnnxWriter, ExternalDataWhenTooBigForOneProtobuf) {
  ScratchDir dir;
  onnx::ModelProto m = identity_model();
  add_float_init(m.mutable_graph(), "w", {4096}, std::vector<float>(4096, 1.0f));
  save_proto(m, dir.file("in.onnx"));
  Model a = read_onnx(dir.file("in.onnx"));
  OnnxWriteOptions opt;  // kAuto, with a tiny limit standing in for protobuf's 2 GiB
  opt.inline_limit_bytes = 10000;
  opt.external_file = "weights.bin";
  write_onnx(a, dir.file("auto.onnx"), opt);
  EXPECT_TRUE(fs::exists(dir.file("weights.bin")));
  EXPECT_LT(fs::file_size(dir.file("auto.onnx")), 2000u);
  expect_models_equal(a, read_onnx(dir.file("auto.onnx")));

  opt.external_data = OnnxWriteOptions::ExternalData::kNever;
  write_onnx(a, dir.file("inline.onnx"), opt);
  EXPECT_GT(fs::file_size(dir.file("inline.onnx")), 16384u);

  opt.external_data = OnnxWriteOptions::ExternalData::kAlways;
  opt.external_file = "../escape.bin";
  EXPECT_NE(input_error_of([&] { write_onnx(a, dir.file("bad.onnx"), opt); }).find("plain file name"), std::string::npos);
}

TEST(OnnxWriter, RefusesToOverwriteItsSource) {
  ScratchDir dir;
  save_proto(identity_model(), dir.file("m.onnx"));
  std::string before = read_bytes(dir.file("m.onnx"));
  Model a = read_onnx(dir.file("m.onnx"));
  std::string msg = input_error_of([&] { write_onnx(a, dir.file("m.onnx")); });
  EXPECT_NE(msg.find("source file"), std::string::npos) << msg;
  // Another spelling of the same path.
  std::string other = (dir.path() / "." / "m.onnx").string();
  EXPECT_NE(input_error_of([&] { write_onnx(a, other); }).find("source file"), std::string::npos);
  // The external data file may not land on the source either.
  OnnxWriteOptions opt;
  opt.external_data = OnnxWriteOptions::ExternalData::kAlways;
  opt.external_file = "m.onnx";
  EXPECT_NE(input_error_of([&] { write_onnx(a, dir.file("n.onnx"), opt); }).find("overwrite"), std::string::npos);
  EXPECT_EQ(read_bytes(dir.file("m.onnx")), before);
  EXPECT_EQ(listing(dir.path()), (std::vector<std::string>{"m.onnx"}));
}

TEST(OnnxWriter, FailedWriteLeavesTheOldFileAndNoTemporaries) {
  ScratchDir dir;
  write_bytes(dir.file("target.onnx"), "old contents");
  Model bad;
  bad.graph.outputs.push_back(float_info("y", {1}));
  bad.graph.nodes.push_back(Node{"Relu", "", "r", {"missing"}, {"y"}, {}, {}});
  EXPECT_NE(input_error_of([&] { write_onnx(bad, dir.file("target.onnx")); }).find("missing"), std::string::npos);
  EXPECT_EQ(read_bytes(dir.file("target.onnx")), "old contents");
  EXPECT_EQ(listing(dir.path()), (std::vector<std::string>{"target.onnx"}));

  // A folder that does not exist, and a directory as the target.
  Model ok = read_onnx_bytes(identity_model().SerializeAsString(), "", "<identity>");
  EXPECT_NE(input_error_of([&] { write_onnx(ok, dir.file("no/such/dir/m.onnx")); }).find("cannot create"), std::string::npos);
  EXPECT_NE(input_error_of([&] { write_onnx(ok, dir.path().string()); }).find("directory"), std::string::npos);

  // Success replaces the old contents.
  write_onnx(ok, dir.file("target.onnx"));
  EXPECT_NO_THROW(read_onnx(dir.file("target.onnx")));
  EXPECT_EQ(listing(dir.path()), (std::vector<std::string>{"target.onnx"}));
  EXPECT_EQ(fs::status(dir.file("target.onnx")).permissions() & fs::perms::others_read, fs::perms::others_read);
}

TEST(ModelIo, DispatchesByContentAndExtension) {
  ScratchDir dir;
  save_proto(identity_model(), dir.file("m.onnx"));
  fs::copy_file(dir.file("m.onnx"), dir.file("no_extension"));
  EXPECT_EQ(load_model(dir.file("m.onnx")).graph.nodes.size(), 1u);
  EXPECT_EQ(load_model(dir.file("no_extension")).graph.nodes.size(), 1u);

  write_bytes(dir.file("a.tflite"), std::string("\x1c\0\0\0TFL3\0\0\0\0", 12));
  write_bytes(dir.file("tflite_without_extension"), std::string("\x1c\0\0\0TFL3\0\0\0\0", 12));
  write_bytes(dir.file("b.pt"), std::string("PK\x03\x04rest", 8));
  write_bytes(dir.file("c.h5"), std::string("\x89HDF\r\n\x1a\n....", 12));
  // TFLite is detected by its magic (with or without the extension); a TFLite reader may exist,
  // and this 12-byte stub is not a valid model either way.
  EXPECT_THROW(load_model(dir.file("a.tflite")), InputError);
  EXPECT_THROW(load_model(dir.file("tflite_without_extension")), InputError);
  EXPECT_EQ(detect_model_format(dir.file("tflite_without_extension")), ModelFormat::kTflite);
  EXPECT_EQ(detect_model_format(dir.file("no_extension")), ModelFormat::kOnnx);
  // TorchScript has a reader; this 8-byte zip stub is not an archive it can load.
  EXPECT_EQ(detect_model_format(dir.file("b.pt")), ModelFormat::kTorchScript);
  EXPECT_NE(input_error_of([&] { load_model(dir.file("b.pt")); }).find("b.pt: not a readable TorchScript archive"), std::string::npos);
  // A Keras reader exists: the 12-byte HDF5 stub is a damaged file, an InputError naming it.
  EXPECT_NE(input_error_of([&] { load_model(dir.file("c.h5")); }).find("c.h5"), std::string::npos);

  write_bytes(dir.file("notes.txt"), "hello, I am not a model");
  std::string msg = input_error_of([&] { load_model(dir.file("notes.txt")); });
  EXPECT_NE(msg.find("unrecognized model format"), std::string::npos) << msg;
  EXPECT_NE(input_error_of([&] { load_model(dir.file("missing.onnx")); }).find("no such file"), std::string::npos);
  EXPECT_NE(input_error_of([&] { load_model(dir.path().string()); }).find("unrecognized model format"), std::string::npos);

  Model m = load_model(dir.file("m.onnx"));
  save_model(m, dir.file("copy.ONNX"));
  expect_models_equal(m, load_model(dir.file("copy.ONNX")));
  save_model(m, dir.file("out.tflite"));  // ONNX -> TFLite (tests/tflite_convert_test.sh checks outputs)
  EXPECT_EQ(load_model(dir.file("out.tflite")).meta.format, "tflite");
  EXPECT_THROW(save_model(m, dir.file("out.xyz")), UnsupportedError);
  EXPECT_THROW(save_model(m, dir.file("m.onnx")), InputError);  // its own source
}
