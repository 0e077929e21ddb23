// Hostile and broken ONNX files: each must raise InputError (or UnsupportedError) naming the
// problem -- never crash, hang, read outside the model's folder, or allocate huge memory.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <climits>
#include <random>

#include "formats/onnx/onnx_reader.h"
#include "onnx_test_util.h"
#include "runtime/interpreter.h"

using namespace transfix;
using namespace transfix::testing;

namespace {

// Writes `m` to a scratch file and returns the message of the InputError reading it raises.
std::string read_error(const ScratchDir& dir, const onnx::ModelProto& m, const std::string& name = "bad.onnx") {
  save_proto(m, dir.file(name));
  return input_error_of([&] { read_onnx(dir.file(name)); });
}

// Expects `msg` to name the file and contain every one of `parts`.
void expect_mentions(const std::string& msg, std::initializer_list<const char*> parts) {
  for (const char* p : parts) EXPECT_NE(msg.find(p), std::string::npos) << "message lacks '" << p << "': " << msg;
}

// A model whose initializer "w" the Identity node copies to the output.
onnx::ModelProto model_with_initializer(onnx::TensorProto** init) {
  onnx::ModelProto m = empty_model();
  auto* g = m.mutable_graph();
  add_value(g->mutable_output(), "y", onnx::TensorProto::FLOAT, {});
  add_node(g, "Identity", {"w"}, {"y"});
  *init = g->add_initializer();
  (*init)->set_name("w");
  (*init)->set_data_type(onnx::TensorProto::FLOAT);
  return m;
}

onnx::ModelProto external_model(const std::string& location, const std::string& offset, const std::string& length,
                                int64_t numel = 4) {
  onnx::TensorProto* w;
  onnx::ModelProto m = model_with_initializer(&w);
  w->add_dims(numel);
  w->set_data_location(onnx::TensorProto::EXTERNAL);
  auto add = [&](const char* k, const std::string& v) {
    if (v.empty()) return;
    auto* kv = w->add_external_data();
    kv->set_key(k);
    kv->set_value(v);
  };
  add("location", location);
  add("offset", offset);
  add("length", length);
  return m;
}

// Restores the global allocation cap when a test changes it.
struct TensorLimitGuard {
  int64_t saved = max_tensor_bytes();
  ~TensorLimitGuard() { set_max_tensor_bytes(saved); }
};

}  // namespace

TEST(OnnxBadInput, NotAFile) {
  ScratchDir dir;
  expect_mentions(input_error_of([&] { read_onnx(dir.path().string()); }), {"not a readable file"});
  expect_mentions(input_error_of([&] { read_onnx(dir.file("missing.onnx")); }), {"missing.onnx", "not a readable file"});
  write_bytes(dir.file("empty.onnx"), "");
  expect_mentions(input_error_of([&] { read_onnx(dir.file("empty.onnx")); }), {"empty.onnx", "empty file"});
}

TEST(OnnxBadInput, BadProtobuf) {
  ScratchDir dir;
  write_bytes(dir.file("varint.onnx"), std::string("\x08\x96", 2));  // truncated varint
  expect_mentions(input_error_of([&] { read_onnx(dir.file("varint.onnx")); }), {"varint.onnx", "not a valid ONNX protobuf"});
  write_bytes(dir.file("wire.onnx"), std::string("\x0f\x01", 2));  // wire type 7 does not exist
  expect_mentions(input_error_of([&] { read_onnx(dir.file("wire.onnx")); }), {"not a valid ONNX protobuf"});
  write_bytes(dir.file("len.onnx"), std::string("\x3a\xff\xff\xff\x0f", 5));  // graph of 4 GiB
  expect_mentions(input_error_of([&] { read_onnx(dir.file("len.onnx")); }), {"not a valid ONNX protobuf"});
  write_bytes(dir.file("text.onnx"), "ir_version: 8\ngraph { }\n");  // text format is not the file format
  EXPECT_FALSE(input_error_of([&] { read_onnx(dir.file("text.onnx")); }).empty());
  onnx::ModelProto no_graph;
  no_graph.set_ir_version(8);
  expect_mentions(read_error(dir, no_graph), {"has no graph"});
}

TEST(OnnxBadInput, RandomBytes) {
  ScratchDir dir;
  std::mt19937 rng(1234);
  for (int trial = 0; trial < 200; ++trial) {
    std::string bytes(1 + rng() % 512, '\0');
    for (auto& c : bytes) c = static_cast<char>(rng());
    write_bytes(dir.file("random.onnx"), bytes);
    EXPECT_FALSE(input_error_of([&] { read_onnx(dir.file("random.onnx")); }).empty()) << "trial " << trial;
  }
}

TEST(OnnxBadInput, TruncatedFile) {
  if (!fs::exists("/usr/share/libonnx-testdata/data/pytorch-converted/test_Conv2d/model.onnx")) GTEST_SKIP();
  ScratchDir dir;
  std::string full = read_bytes("/usr/share/libonnx-testdata/data/pytorch-converted/test_Conv2d/model.onnx");
  // Cut in the middle of the weights: a length-delimited field runs past the end.
  write_bytes(dir.file("cut.onnx"), full.substr(0, full.size() / 2));
  expect_mentions(input_error_of([&] { read_onnx(dir.file("cut.onnx")); }), {"cut.onnx"});
  // Every prefix either reads (a cut at a field boundary is a valid, smaller message) or fails cleanly.
  int failures = 0;
  for (size_t n = 0; n < full.size(); n += 3) {
    write_bytes(dir.file("prefix.onnx"), full.substr(0, n));
    try {
      read_onnx(dir.file("prefix.onnx"));
    } catch (const InputError&) {
      ++failures;
    }
  }
  EXPECT_GT(failures, 0);
}

TEST(OnnxBadInput, BitFlipsNeverCrash) {
  // A small mutation fuzzer over a valid model: every variant reads or fails with InputError.
  if (!fs::exists("/usr/share/libonnx-testdata/data/pytorch-converted/test_Conv2d/model.onnx")) GTEST_SKIP();
  ScratchDir dir;
  std::string full = read_bytes("/usr/share/libonnx-testdata/data/pytorch-converted/test_Conv2d/model.onnx");
  std::mt19937 rng(99);
  for (int trial = 0; trial < 1000; ++trial) {
    std::string bytes = full;
    int flips = 1 + static_cast<int>(rng() % 4);
    for (int f = 0; f < flips; ++f) {
      size_t pos = rng() % bytes.size();
      if (rng() % 2) bytes[pos] ^= static_cast<char>(1u << (rng() % 8));
      else bytes[pos] = static_cast<char>(rng());
    }
    try {
      read_onnx_bytes(bytes, dir.path().string(), "fuzz");
    } catch (const InputError&) {
    }
  }
}

TEST(OnnxBadInput, UndefinedValue) {
  ScratchDir dir;
  onnx::ModelProto m = empty_model();
  auto* g = m.mutable_graph();
  add_value(g->mutable_input(), "x", onnx::TensorProto::FLOAT, {2});
  add_value(g->mutable_output(), "y", onnx::TensorProto::FLOAT, {2});
  add_node(g, "Add", {"x", "bias"}, {"y"}, "add");  // "bias" initializer is missing
  expect_mentions(read_error(dir, m), {"bad.onnx", "'add'", "'bias'", "no node, input or initializer"});
}

TEST(OnnxBadInput, Cycle) {
  ScratchDir dir;
  onnx::ModelProto m = empty_model();
  auto* g = m.mutable_graph();
  add_value(g->mutable_input(), "x", onnx::TensorProto::FLOAT, {2});
  add_value(g->mutable_output(), "b", onnx::TensorProto::FLOAT, {2});
  add_node(g, "Add", {"x", "b"}, {"a"}, "n1");
  add_node(g, "Relu", {"a"}, {"b"}, "n2");
  expect_mentions(read_error(dir, m), {"cycle"});
}

TEST(OnnxBadInput, HugeDimsWithoutData) {
  ScratchDir dir;
  onnx::TensorProto* w;
  onnx::ModelProto m = model_with_initializer(&w);
  for (int i = 0; i < 3; ++i) w->add_dims(int64_t{1} << 20);  // 2^60 floats, no data at all
  expect_mentions(read_error(dir, m), {"'w'", "exceeds the allocation limit"});

  // Even with the cap lifted, nothing is allocated before the data is checked: 2^40 floats (4 TiB)
  // would fail with "out of memory" (or abort under ASan) if the reader allocated first.
  TensorLimitGuard guard;
  set_max_tensor_bytes(INT64_MAX);
  w->clear_dims();
  w->add_dims(int64_t{1} << 40);
  expect_mentions(read_error(dir, m), {"'w'", "float_data has 0 values"});
  w->set_raw_data("abcd");
  expect_mentions(read_error(dir, m), {"'w'", "raw_data has 4 bytes"});
  // Dims whose product overflows int64.
  w->clear_dims();
  for (int i = 0; i < 4; ++i) w->add_dims(int64_t{1} << 20);
  expect_mentions(read_error(dir, m), {"'w'", "too large"});
}

TEST(OnnxBadInput, NegativeDims) {
  ScratchDir dir;
  onnx::TensorProto* w;
  onnx::ModelProto m = model_with_initializer(&w);
  w->add_dims(-4);
  expect_mentions(read_error(dir, m), {"'w'", "negative dimension"});

  onnx::ModelProto v = identity_model();
  v.mutable_graph()->mutable_input(0)->mutable_type()->mutable_tensor_type()->mutable_shape()->mutable_dim(1)->set_dim_value(-3);
  expect_mentions(read_error(dir, v), {"'x'", "negative dimension -3"});
}

TEST(OnnxBadInput, HugeDimsInValueInfo) {
  ScratchDir dir;
  onnx::ModelProto m = identity_model();
  auto* shape = m.mutable_graph()->mutable_output(0)->mutable_type()->mutable_tensor_type()->mutable_shape();
  shape->mutable_dim(0)->set_dim_value(INT64_MAX);
  shape->mutable_dim(1)->set_dim_value(INT64_MAX);
  expect_mentions(read_error(dir, m), {"'y'", "declared shape", "too large"});
}

TEST(OnnxBadInput, DataSizeMismatch) {
  ScratchDir dir;
  onnx::TensorProto* w;
  onnx::ModelProto m = model_with_initializer(&w);
  w->add_dims(2);
  w->set_raw_data("abc");  // 3 bytes for 2 floats
  expect_mentions(read_error(dir, m), {"'w'", "raw_data has 3 bytes", "needs 8"});
  w->clear_raw_data();
  w->add_float_data(1.0f);  // 1 value for 2
  expect_mentions(read_error(dir, m), {"'w'", "float_data has 1 values", "needs 2"});
  w->set_data_type(12345);
  expect_mentions(read_error(dir, m), {"'w'", "unsupported data type 12345"});
}

TEST(OnnxBadInput, ExternalDataEscapes) {
  ScratchDir dir;
  fs::create_directories(dir.path() / "model");
  write_bytes(dir.file("secret.bin"), std::string(64, 's'));
  auto error_for = [&](const onnx::ModelProto& m) {
    save_proto(m, dir.file("model/m.onnx"));
    return input_error_of([&] { read_onnx(dir.file("model/m.onnx")); });
  };
  expect_mentions(error_for(external_model("../secret.bin", "", "")), {"'w'", "'../secret.bin'", "escapes the model's folder"});
  expect_mentions(error_for(external_model("sub/../../secret.bin", "", "")), {"escapes the model's folder"});
  expect_mentions(error_for(external_model("/etc/passwd", "", "")), {"'/etc/passwd'", "must be relative"});
  expect_mentions(error_for(external_model(std::string("ok\0/../../x", 10), "", "")), {"NUL"});
  expect_mentions(error_for(external_model(".", "", "")), {"'w'"});
  ::mkfifo(dir.file("model/pipe").c_str(), 0600);  // reading it would block forever
  expect_mentions(error_for(external_model("pipe", "", "")), {"'pipe'", "not a regular file"});
  // A symlink inside the folder pointing outside it.
  fs::create_symlink(dir.path() / "secret.bin", dir.path() / "model" / "link.bin");
  expect_mentions(error_for(external_model("link.bin", "", "")), {"'link.bin'", "escapes the model's folder"});
  fs::create_directory_symlink(dir.path(), dir.path() / "model" / "up");
  expect_mentions(error_for(external_model("up/secret.bin", "", "")), {"escapes the model's folder"});
  // External data is refused outright when there is no folder to resolve it in.
  std::string bytes = external_model("w.bin", "", "").SerializeAsString();
  expect_mentions(input_error_of([&] { read_onnx_bytes(bytes, "", "<memory>"); }), {"<memory>", "not allowed"});
}

TEST(OnnxBadInput, ExternalDataRanges) {
  ScratchDir dir;
  write_bytes(dir.file("w.bin"), std::string(20, '\0'));  // room for 5 floats
  expect_mentions(read_error(dir, external_model("missing.bin", "", "")), {"'missing.bin'", "not found"});
  expect_mentions(read_error(dir, external_model("w.bin", "8", "")), {"offset 8", "past the end", "20 bytes"});
  expect_mentions(read_error(dir, external_model("w.bin", "100", "16")), {"past the end"});
  expect_mentions(read_error(dir, external_model("w.bin", "0", "12")), {"length 12 != 16"});
  expect_mentions(read_error(dir, external_model("w.bin", "-4", "")), {"bad external_data offset '-4'"});
  expect_mentions(read_error(dir, external_model("w.bin", "4x", "")), {"bad external_data offset '4x'"});
  expect_mentions(read_error(dir, external_model("w.bin", "99999999999999999999", "")), {"bad external_data offset"});
  expect_mentions(read_error(dir, external_model("w.bin", "0", "-1")), {"bad external_data length"});
  expect_mentions(read_error(dir, external_model("", "", "")), {"without a location"});
  save_proto(external_model("w.bin", "4", "16"), dir.file("good.onnx"));  // the in-range case reads
  EXPECT_EQ(read_onnx(dir.file("good.onnx")).graph.initializers.at("w").shape(), Shape{4});

  // Many tensors pointing at the same bytes would multiply memory use past the data on disk.
  onnx::ModelProto m = external_model("w.bin", "0", "16");
  for (int i = 0; i < 3; ++i) {
    auto* t = m.mutable_graph()->add_initializer();
    *t = m.graph().initializer(0);
    t->set_name("copy" + std::to_string(i));
  }
  expect_mentions(read_error(dir, m), {"more bytes", "'w.bin'", "than it holds"});
}

TEST(OnnxBadInput, UnknownOpLoadsButDoesNotRun) {
  ScratchDir dir;
  onnx::ModelProto m = identity_model();
  m.mutable_graph()->mutable_node(0)->set_op_type("FrobnicateV7");
  save_proto(m, dir.file("unknown.onnx"));
  Model model = read_onnx(dir.file("unknown.onnx"));
  try {
    Interpreter interp(model);
    FAIL() << "the interpreter accepted an unknown op";
  } catch (const UnsupportedError& e) {
    EXPECT_EQ(e.op(), "FrobnicateV7");
    expect_mentions(e.what(), {"FrobnicateV7", "'id'"});
  }
}

TEST(OnnxBadInput, AttributeOfWrongType) {
  ScratchDir dir;
  onnx::ModelProto m = empty_model(11);
  auto* g = m.mutable_graph();
  add_value(g->mutable_input(), "x", onnx::TensorProto::FLOAT, {1, 1, 3, 3});
  add_value(g->mutable_output(), "y", onnx::TensorProto::FLOAT, {1, 1, 3, 3});
  add_float_init(g, "W", {1, 1, 1, 1}, {1.0f});
  auto* conv = add_node(g, "Conv", {"x", "W"}, {"y"}, "conv1");
  auto* strides = conv->add_attribute();
  strides->set_name("strides");
  strides->set_type(onnx::AttributeProto::FLOAT);
  strides->set_f(2.0f);
  expect_mentions(read_error(dir, m), {"'conv1'", "Conv", "'strides' is FLOAT", "expects INTS"});

  // An INT where the schema says FLOAT is harmless (LeakyRelu alpha = 1 converts exactly).
  onnx::ModelProto ok = identity_model();
  ok.mutable_graph()->mutable_node(0)->set_op_type("LeakyRelu");
  auto* alpha = ok.mutable_graph()->mutable_node(0)->add_attribute();
  alpha->set_name("alpha");
  alpha->set_type(onnx::AttributeProto::INT);
  alpha->set_i(1);
  save_proto(ok, dir.file("ok.onnx"));
  EXPECT_EQ(read_onnx(dir.file("ok.onnx")).graph.nodes.at(0).attr_float("alpha", 0), 1.0);

  // The same attribute twice.
  strides->set_type(onnx::AttributeProto::INTS);
  strides->clear_f();
  strides->add_ints(1);
  strides->add_ints(1);
  *conv->add_attribute() = *strides;
  expect_mentions(read_error(dir, m), {"'conv1'", "attribute 'strides' twice"});
}

TEST(OnnxBadInput, DuplicateNames) {
  ScratchDir dir;
  onnx::ModelProto m = identity_model();
  add_node(m.mutable_graph(), "Relu", {"x"}, {"y"}, "second");  // y produced twice
  expect_mentions(read_error(dir, m), {"'y'", "produced more than once"});

  onnx::ModelProto overwrite = identity_model();
  add_node(overwrite.mutable_graph(), "Relu", {"y"}, {"x"}, "back");
  expect_mentions(read_error(dir, overwrite), {"'back'", "overwrites graph input 'x'"});

  onnx::TensorProto* w;
  onnx::ModelProto inits = model_with_initializer(&w);
  w->add_float_data(1.0f);
  *inits.mutable_graph()->add_initializer() = *w;
  expect_mentions(read_error(dir, inits), {"duplicate initializer 'w'"});

  onnx::ModelProto inputs = identity_model();
  *inputs.mutable_graph()->add_input() = inputs.graph().input(0);
  expect_mentions(read_error(dir, inputs), {"duplicate graph input 'x'"});
}

TEST(OnnxBadInput, OutputNothingProduces) {
  ScratchDir dir;
  onnx::ModelProto m = identity_model();
  add_value(m.mutable_graph()->mutable_output(), "ghost", onnx::TensorProto::FLOAT, {1});
  expect_mentions(read_error(dir, m), {"graph output 'ghost'", "not produced"});
  onnx::ModelProto empty_op = identity_model();
  empty_op.mutable_graph()->mutable_node(0)->clear_op_type();
  expect_mentions(read_error(dir, empty_op), {"no op_type"});
}

TEST(OnnxBadInput, UnsupportedTypesAreUnsupportedErrors) {
  ScratchDir dir;
  onnx::ModelProto m = identity_model();
  m.mutable_graph()->mutable_input(0)->mutable_type()->mutable_tensor_type()->set_elem_type(onnx::TensorProto::STRING);
  save_proto(m, dir.file("s.onnx"));
  EXPECT_THROW(read_onnx(dir.file("s.onnx")), UnsupportedError);
  m.mutable_graph()->mutable_input(0)->mutable_type()->mutable_tensor_type()->set_elem_type(onnx::TensorProto::COMPLEX64);
  save_proto(m, dir.file("c.onnx"));
  EXPECT_THROW(read_onnx(dir.file("c.onnx")), UnsupportedError);
}

TEST(OnnxBadInput, UnreadableFile) {
  if (::geteuid() == 0) GTEST_SKIP() << "root reads everything";
  ScratchDir dir;
  save_proto(identity_model(), dir.file("locked.onnx"));
  ::chmod(dir.file("locked.onnx").c_str(), 0);
  EXPECT_FALSE(input_error_of([&] { read_onnx(dir.file("locked.onnx")); }).empty());
}

TEST(OnnxBadInput, StructuredMutationsNeverCrash) {
  // Well-formed protobufs with nonsense inside (dims, dtypes, attribute types, wiring): these get
  // past the parser into our validation and ONNX shape inference, where bit flips rarely reach.
  const char* kModels[] = {"pytorch-converted/test_Conv2d", "pytorch-converted/test_BatchNorm2d_eval",
                           "node/test_reshape_extended_dims", "node/test_gemm_default_matrix_bias",
                           "node/test_slice", "node/test_constant", "simple/test_expand_shape_model1"};
  const fs::path root = "/usr/share/libonnx-testdata/data";
  if (!fs::exists(root / kModels[0] / "model.onnx")) GTEST_SKIP();
  ScratchDir dir;
  std::mt19937 rng(7);
  auto any_dim = [&]() -> int64_t {
    static const int64_t kDims[] = {0, 1, 2, 3, -1, -7, int64_t{1} << 31, int64_t{1} << 40, INT64_MAX, INT64_MIN};
    return kDims[rng() % std::size(kDims)];
  };
  int loaded = 0, rejected = 0;
  for (const char* name : kModels) {
    onnx::ModelProto base;
    ASSERT_TRUE(base.ParseFromString(read_bytes((root / name / "model.onnx").string()))) << name;
    for (int trial = 0; trial < 150; ++trial) {
      onnx::ModelProto m = base;
      auto* g = m.mutable_graph();
      for (int k = 0; k < 3; ++k) {
        switch (rng() % 8) {
          case 0:
            if (g->initializer_size()) {
              auto* t = g->mutable_initializer(static_cast<int>(rng() % g->initializer_size()));
              if (t->dims_size()) t->set_dims(static_cast<int>(rng() % t->dims_size()), any_dim());
            }
            break;
          case 1:
            if (g->initializer_size())
              g->mutable_initializer(static_cast<int>(rng() % g->initializer_size()))->set_data_type(static_cast<int>(rng() % 20));
            break;
          case 2: {
            auto* list = rng() % 2 ? g->mutable_input() : g->mutable_output();
            if (list->size()) {
              auto* shape = list->Mutable(static_cast<int>(rng() % list->size()))->mutable_type()->mutable_tensor_type()->mutable_shape();
              if (shape->dim_size()) shape->mutable_dim(static_cast<int>(rng() % shape->dim_size()))->set_dim_value(any_dim());
              else shape->add_dim()->set_dim_value(any_dim());
            }
            break;
          }
          case 3:
            if (g->node_size()) {
              auto* n = g->mutable_node(static_cast<int>(rng() % g->node_size()));
              if (n->attribute_size()) {
                auto* a = n->mutable_attribute(static_cast<int>(rng() % n->attribute_size()));
                a->set_type(static_cast<onnx::AttributeProto::AttributeType>(rng() % 15));
                a->add_ints(any_dim());
              }
            }
            break;
          case 4:
            if (g->node_size()) {
              auto* n = g->mutable_node(static_cast<int>(rng() % g->node_size()));
              if (n->input_size()) n->set_input(static_cast<int>(rng() % n->input_size()), rng() % 2 ? "" : n->output(0));
            }
            break;
          case 5:
            if (g->node_size() > 1) g->mutable_node()->SwapElements(0, g->node_size() - 1);
            break;
          case 6:
            if (g->initializer_size()) {
              auto* t = g->mutable_initializer(static_cast<int>(rng() % g->initializer_size()));
              std::string raw = t->raw_data();
              raw.resize(rng() % (raw.size() + 9));
              t->set_raw_data(raw);
            }
            break;
          default:
            m.mutable_opset_import(0)->set_version(static_cast<int64_t>(rng() % 20) - 2);
        }
      }
      try {
        Model model = read_onnx_bytes(m.SerializeAsString(), dir.path().string(), "mutant");
        ++loaded;
      } catch (const InputError&) {
        ++rejected;
      }
    }
  }
  EXPECT_GT(rejected, 0);
  std::printf("mutants: %d loaded, %d rejected\n", loaded, rejected);
}
