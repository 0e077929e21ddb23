// Metrics (hand-computed Kendall tau, SNR, cosine, top-k), the input/output contract, the verdict
// logic, datasets, and compare_models end to end on the committed tiny CNN.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>

#include "compare/compare.h"
#include "compare/contract.h"
#include "compare/metrics.h"
#include "core/errors.h"
#include "data/dataset.h"
#include "data/npy.h"

using namespace transfix;
namespace fs = std::filesystem;

// ---------------------------------------------------------------- metrics

TEST(Metrics, KendallTauByHand) {
  // One discordant pair (items 1, 2) of 6: (5 - 1) / 6.
  EXPECT_NEAR(kendall_tau({1, 2, 3, 4}, {1, 3, 2, 4}), 4.0 / 6.0, 1e-12);
  EXPECT_NEAR(kendall_tau({1, 2, 3}, {3, 2, 1}), -1.0, 1e-12);
  // tau-b with a tie in a: pairs (0,1), (0,2) concordant, (1,2) tied in a:
  // 2 / sqrt((3 - 1) * (3 - 0)).
  EXPECT_NEAR(kendall_tau({1, 2, 2}, {1, 2, 3}), 2.0 / std::sqrt(6.0), 1e-12);
  EXPECT_EQ(kendall_tau({1}, {5}), 1.0);
}

TEST(Metrics, TopKAndTheirKendallTau) {
  std::vector<double> ref = {5, 4, 3, 2, 1, 0}, test = {5, 3, 4, 2, 1, 0};
  EXPECT_EQ(top_k(ref.data(), 6, 3), (std::vector<int64_t>{0, 1, 2}));
  EXPECT_EQ(top_k(test.data(), 6, 3), (std::vector<int64_t>{0, 2, 1}));
  EXPECT_EQ(top_k_overlap({0, 1, 2}, {0, 2, 1}), 1.0);
  EXPECT_NEAR(top_k_overlap({0, 1, 2}, {0, 2, 5}), 2.0 / 3.0, 1e-12);
  // Union {0,1,2}: ref order 5>4>3, test order 5>4(item 2)>3(item 1): 1 of 3 pairs discordant.
  EXPECT_NEAR(top_k_kendall_tau(ref.data(), test.data(), 6, 3), 1.0 / 3.0, 1e-12);
  // Different top-k sets: union {0,1,2,3}; test swaps items 2 and 3 -> 1 of 6 discordant.
  std::vector<double> t2 = {5, 4, 2, 3, 1, 0};
  EXPECT_NEAR(top_k_kendall_tau(ref.data(), t2.data(), 6, 3), 4.0 / 6.0, 1e-12);
  std::vector<double> ties = {1, 3, 3};
  EXPECT_EQ(argmax(ties.data(), 3), 1);  // first of equal maxima
}

TEST(Metrics, SnrCosineAndErrors) {
  EXPECT_NEAR(snr_db({3, 4}, {3, 5}), 10 * std::log10(25.0), 1e-12);  // 25 / 1
  EXPECT_TRUE(std::isinf(snr_db({1, 2}, {1, 2})));
  EXPECT_NEAR(cosine_similarity({1, 0}, {1, 1}), 1 / std::sqrt(2.0), 1e-12);
  EXPECT_NEAR(cosine_similarity({1, 2}, {-1, -2}), -1.0, 1e-12);
  ErrorStats s;
  std::vector<double> ref = {1, -2, 0.0001, 4}, test = {1.5, -2, 0.0002, 3};
  s.add(ref.data(), test.data(), 4, 1e-3 * 4);
  EXPECT_EQ(s.max_abs, 1.0);
  EXPECT_NEAR(s.mean_abs(), (0.5 + 0 + 0.0001 + 1) / 4, 1e-12);
  EXPECT_EQ(s.max_rel, 0.5);  // 0.5/1; the 0.0001 element is below the relative floor
  EXPECT_EQ(s.max_ref_abs, 4.0);
}

TEST(Metrics, NonFiniteValuesAreCountedNotSummed) {
  ErrorStats s;
  std::vector<double> ref = {1, NAN, INFINITY, 2}, test = {1, NAN, INFINITY, NAN};
  s.add(ref.data(), test.data(), 4, 0);
  EXPECT_EQ(s.ref_nan, 1);
  EXPECT_EQ(s.test_nan, 2);
  EXPECT_EQ(s.ref_inf, 1);
  EXPECT_EQ(s.nonfinite_mismatch, 1);  // 2 vs NaN; NaN/NaN and inf/inf agree
  EXPECT_EQ(s.count, 1);
  EXPECT_EQ(s.max_abs, 0);
}

// ---------------------------------------------------------------- contract

namespace {
ValueInfo info(const std::string& name, DType dt, Shape shape) {
  ValueInfo v;
  v.name = name, v.dtype = dt, v.shape = std::move(shape), v.has_shape = true;
  return v;
}
}  // namespace

TEST(Contract, PairsByNameThenPosition) {
  std::vector<ValueInfo> src = {info("a", DType::kF32, {1}), info("b", DType::kF32, {1}), info("c", DType::kF32, {1})};
  std::vector<ValueInfo> tgt = {info("x", DType::kF32, {1}), info("b", DType::kF32, {1})};
  ValuePairing p = pair_values(src, tgt, "input");
  ASSERT_EQ(p.pairs.size(), 2u);
  EXPECT_EQ(p.pairs[0], (std::pair<size_t, size_t>{0, 0}));  // x <- a by position (b is taken by name)
  EXPECT_EQ(p.pairs[1], (std::pair<size_t, size_t>{1, 1}));
  EXPECT_EQ(p.unpaired_source, (std::vector<size_t>{2}));
  EXPECT_EQ(p.notes.size(), 1u);
}

// A detector's three outputs, renamed and reordered by its converter (TFLite's Identity, Identity_1,
// Identity_2): paired by their shapes, each said; two outputs of one shape are ambiguous, and said so.
TEST(Contract, PairsByShapeWhenNamesDiffer) {
  std::vector<ValueInfo> src = {info("boxes", DType::kF32, {-1, 14}), info("scores", DType::kF32, {-1, 2}),
                                info("landmarks", DType::kF32, {-1, 10})};
  std::vector<ValueInfo> tgt = {info("Identity", DType::kF32, {1, 2}), info("Identity_1", DType::kF32, {1, 10}),
                                info("Identity_2", DType::kF32, {1, 14})};
  ValuePairing p = pair_values(src, tgt, "output");
  ASSERT_EQ(p.pairs.size(), 3u);
  EXPECT_EQ(p.pairs[0], (std::pair<size_t, size_t>{0, 2}));
  EXPECT_EQ(p.pairs[1], (std::pair<size_t, size_t>{1, 0}));
  EXPECT_EQ(p.pairs[2], (std::pair<size_t, size_t>{2, 1}));
  ASSERT_EQ(p.notes.size(), 3u);
  EXPECT_NE(p.notes[0].find("(by shape [1, 2])"), std::string::npos) << p.notes[0];

  std::vector<ValueInfo> twins = {info("a", DType::kF32, {1, 4}), info("b", DType::kF32, {1, 4})};
  std::vector<ValueInfo> renamed = {info("y", DType::kF32, {1, 4}), info("z", DType::kF32, {1, 4})};
  ValuePairing q = pair_values(twins, renamed, "output");
  ASSERT_EQ(q.pairs.size(), 2u);
  bool ambiguous = false;
  for (const auto& n : q.notes) ambiguous |= n.find("ambiguous") != std::string::npos;
  EXPECT_TRUE(ambiguous);
}

TEST(Contract, TransposesNchwToNhwc) {
  Tensor x = Tensor::from_vector<float>({0, 1, 2, 3, 4, 5}, {1, 3, 1, 2});  // C=3, H=1, W=2
  std::vector<std::string> notes;
  Tensor y = fit_input(x, std::nullopt, info("in", DType::kF32, {1, 1, 2, 3}), &notes);
  ASSERT_EQ(y.shape(), (Shape{1, 1, 2, 3}));
  EXPECT_EQ(y.to_f64_vector(), (std::vector<double>{0, 2, 4, 1, 3, 5}));
  ASSERT_EQ(notes.size(), 1u);
  EXPECT_NE(notes[0].find("NCHW -> NHWC"), std::string::npos);
  // and back, for outputs
  Tensor z = align_output(y, std::nullopt, {1, 3, 1, 2}, &notes);
  EXPECT_EQ(z.to_f64_vector(), (std::vector<double>{0, 1, 2, 3, 4, 5}));
  EXPECT_THROW(fit_input(x, std::nullopt, info("in", DType::kF32, {1, 5}), nullptr), InputError);
}

TEST(Contract, QuantizesAndDequantizes) {
  ValueInfo q = info("in", DType::kU8, {4});
  q.quant = QuantParams{{0.5f}, {10}, 0};
  std::vector<std::string> notes;
  Tensor y = fit_input(Tensor::from_vector<float>({1.0f, -10.0f, 200.0f, 0.26f}, {4}), std::nullopt, q, &notes);
  ASSERT_EQ(y.dtype(), DType::kU8);
  // round(x / 0.5) + 10, clamped to [0, 255]: 12, 0 (-10), 255 (410), 11 (0.52 -> 1)
  EXPECT_EQ(y.to_i64_vector(), (std::vector<int64_t>{12, 0, 255, 11}));
  EXPECT_NE(notes.at(0).find("quantized to uint8"), std::string::npos);
  Tensor back = to_real(y);
  EXPECT_EQ(back.to_f64_vector(), (std::vector<double>{1.0, -5.0, 122.5, 0.5}));
  // A quantized source feeding a float target is dequantized.
  Tensor f = fit_input(y, std::nullopt, info("in", DType::kF32, {4}), &notes);
  EXPECT_EQ(f.dtype(), DType::kF32);
  EXPECT_EQ(f.to_f64_vector(), (std::vector<double>{1.0, -5.0, 122.5, 0.5}));
  // Casting float to int rounds instead of truncating.
  Tensor i = fit_input(Tensor::from_vector<float>({2.7f, -1.5f}, {2}), std::nullopt, info("i", DType::kI64, {2}), nullptr);
  EXPECT_EQ(i.to_i64_vector(), (std::vector<int64_t>{3, -2}));
}

// ---------------------------------------------------------------- verdicts

namespace {
OutputResult calibrated_output(double noise, double error, double scale = 10) {
  OutputResult o;
  o.kind = "classification";
  o.samples = 4, o.instances = 4, o.calibration_samples = 2;
  o.noise.max_abs = noise, o.noise.max_ref_abs = scale;
  o.error.max_abs = error, o.error.max_ref_abs = scale;
  return o;
}
}  // namespace

TEST(Verdict, WithinNoiseMultipleIsEquivalent) {
  CompareOptions opt;
  OutputResult o = calibrated_output(1e-5, 7e-5);  // 7 x noise < 8 x noise
  decide_verdict(o, opt, false);
  EXPECT_EQ(o.verdict, Verdict::kEquivalent);
  EXPECT_DOUBLE_EQ(o.tolerance, 8e-5);
  EXPECT_TRUE(o.within_tolerance);
}

TEST(Verdict, BeyondNoiseIsDegraded) {
  CompareOptions opt;
  OutputResult o = calibrated_output(1e-5, 1e-3);
  decide_verdict(o, opt, false);
  EXPECT_EQ(o.verdict, Verdict::kDegraded);
  EXPECT_FALSE(o.within_tolerance);
  EXPECT_EQ(o.noise_units(o.error.max_abs), 100);
}

TEST(Verdict, ExactModelsWithZeroNoiseUseTheFloor) {
  CompareOptions opt;
  OutputResult exact = calibrated_output(0, 0);
  decide_verdict(exact, opt, false);
  EXPECT_EQ(exact.verdict, Verdict::kEquivalent);
  OutputResult tiny = calibrated_output(0, 5e-6);  // floor: 1e-6 x scale 10 = 1e-5
  decide_verdict(tiny, opt, false);
  EXPECT_EQ(tiny.verdict, Verdict::kEquivalent);
  OutputResult off = calibrated_output(0, 2e-5);
  decide_verdict(off, opt, false);
  EXPECT_EQ(off.verdict, Verdict::kDegraded);
}

TEST(Verdict, FlipsBeyondNoiseAreDivergentNearTiesAreNot) {
  CompareOptions opt;
  OutputResult tie = calibrated_output(1e-5, 5e-5);
  tie.pending_margins = {3e-5};  // source scores of the two classes within 8e-5: rounding can swap them
  decide_verdict(tie, opt, false);
  EXPECT_EQ(tie.near_tie_flips, 1);
  EXPECT_EQ(tie.flips, 0);
  EXPECT_EQ(tie.verdict, Verdict::kEquivalent);

  OutputResult flip = calibrated_output(1e-5, 0.5);
  flip.pending_margins = {0.2};
  decide_verdict(flip, opt, false);
  EXPECT_EQ(flip.flips, 1);
  EXPECT_EQ(flip.verdict, Verdict::kDivergent);

  opt.max_flip_rate = 0.25;  // 1 of 4 allowed: only the numeric error remains
  OutputResult allowed = calibrated_output(1e-5, 0.5);
  allowed.pending_margins = {0.2};
  decide_verdict(allowed, opt, false);
  EXPECT_EQ(allowed.verdict, Verdict::kDegraded);
}

TEST(Verdict, CrashMismatchAndUserTolerance) {
  CompareOptions opt;
  OutputResult o = calibrated_output(1e-5, 0);
  decide_verdict(o, opt, /*target_crashed=*/true);
  EXPECT_EQ(o.verdict, Verdict::kCrash);
  OutputResult m = calibrated_output(1e-5, 0);
  m.mismatch = "shape [1, 10] does not match the source's [1, 1000]";
  decide_verdict(m, opt, false);
  EXPECT_EQ(m.verdict, Verdict::kDivergent);
  OutputResult nf = calibrated_output(1e-5, 0);
  nf.error.nonfinite_mismatch = 3;
  decide_verdict(nf, opt, false);
  EXPECT_EQ(nf.verdict, Verdict::kDegraded);

  opt.atol = 1e-2;  // user tolerance replaces the calibrated one
  OutputResult u = calibrated_output(1e-5, 1e-3);
  decide_verdict(u, opt, false);
  EXPECT_EQ(u.verdict, Verdict::kEquivalent);
  u.user_violations = 2;
  decide_verdict(u, opt, false);
  EXPECT_EQ(u.verdict, Verdict::kDegraded);
}

// ---------------------------------------------------------------- datasets

namespace {
struct TempDir {
  fs::path path;
  TempDir() {
    path = fs::temp_directory_path() / ("transfix_compare_test_" + std::to_string(::getpid()) + "_" +
                                        std::to_string(reinterpret_cast<uintptr_t>(this)));
    fs::create_directories(path);
  }
  ~TempDir() { fs::remove_all(path); }
};
void write(const fs::path& p, const std::string& bytes) {
  fs::create_directories(p.parent_path());
  std::ofstream(p, std::ios::binary) << bytes;
}
// The smallest valid PNG: 1x1 gray.
std::string tiny_png() {
  static const unsigned char png[] = {0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x48,
                                      0x44, 0x52, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x01, 0x08, 0x00, 0x00, 0x00,
                                      0x00, 0x3a, 0x7e, 0x9b, 0x55, 0x00, 0x00, 0x00, 0x0a, 0x49, 0x44, 0x41, 0x54, 0x78,
                                      0x9c, 0x63, 0x60, 0x00, 0x00, 0x00, 0x02, 0x00, 0x01, 0x48, 0xaf, 0xa4, 0x71, 0x00,
                                      0x00, 0x00, 0x00, 0x49, 0x45, 0x4e, 0x44, 0xae, 0x42, 0x60, 0x82};
  return std::string(reinterpret_cast<const char*>(png), sizeof png);
}
}  // namespace

TEST(Dataset, ImageFolderSortsSkipsAndLabels) {
  TempDir d;
  write(d.path / "dog" / "b.png", tiny_png());
  write(d.path / "cat" / "z.png", tiny_png());
  write(d.path / "cat" / "broken.jpg", "definitely not a jpeg");
  write(d.path / "notes.txt", "ignored");
  auto ds = open_image_folder(d.path.string(), parse_label_source("folders"));
  EXPECT_EQ(ds->candidates(), 3u);
  EXPECT_EQ(ds->ignored_files(), 1u);
  Sample s;
  ASSERT_TRUE(ds->next(s));
  EXPECT_EQ(s.id, "cat/z.png");  // cat/broken.jpg sorted first, skipped
  EXPECT_EQ(s.label, 0);
  ASSERT_TRUE(ds->next(s));
  EXPECT_EQ(s.id, "dog/b.png");
  EXPECT_EQ(s.label, 1);
  EXPECT_FALSE(ds->next(s));
  ASSERT_EQ(ds->skipped().size(), 1u);
  EXPECT_EQ(ds->skipped()[0].id, "cat/broken.jpg");
  EXPECT_EQ(ds->class_names(), (std::vector<std::string>{"cat", "dog"}));
}

TEST(Dataset, CsvLabelsAndNpySplitting) {
  TempDir d;
  write(d.path / "imgs" / "a.png", tiny_png());
  write(d.path / "imgs" / "b.png", tiny_png());
  write(d.path / "labels.csv", "file,label\na.png,281\nimgs/b.png,7\n");
  auto ds = open_image_folder((d.path / "imgs").string(), parse_label_source((d.path / "labels.csv").string()));
  Sample s;
  ASSERT_TRUE(ds->next(s));
  EXPECT_EQ(s.label, 281);  // numeric labels are class indices
  ASSERT_TRUE(ds->next(s));
  EXPECT_FALSE(s.label.has_value());  // "imgs/b.png" is not a path inside the folder

  // A 3-row .npy for a batch-1 model becomes 3 samples.
  write_npy((d.path / "x.npy").string(), Tensor::from_vector<float>({1, 2, 3, 4, 5, 6}, {3, 2}));
  write(d.path / "junk.npy", "nope");
  auto npy = open_npy({(d.path / "x.npy").string(), (d.path / "junk.npy").string()}, {info("in", DType::kF32, {1, 2})});
  std::vector<double> seen;
  while (npy->next(s)) {
    ASSERT_EQ(s.tensors.at("in").shape(), (Shape{1, 2}));
    for (double v : s.tensors.at("in").to_f64_vector()) seen.push_back(v);
  }
  EXPECT_EQ(seen, (std::vector<double>{1, 2, 3, 4, 5, 6}));
  EXPECT_EQ(npy->skipped().size(), 1u);

  // For a dynamic-batch model (a Keras source, batch None) the same file is 3 samples of one row each:
  // the other model of the pair (its TFLite conversion) takes batch 1 only.
  auto dynamic = open_npy({(d.path / "x.npy").string()}, {info("in", DType::kF32, {-1, 2})});
  int rows = 0;
  while (dynamic->next(s)) {
    ASSERT_EQ(s.tensors.at("in").shape(), (Shape{1, 2}));
    EXPECT_EQ(s.tensors.at("in").to_f64_vector()[0], 1 + 2 * rows);
    ++rows;
  }
  EXPECT_EQ(rows, 3);

  auto rnd = open_random({info("in", DType::kF32, {-1, 3})}, 2, 5);
  int n = 0;
  while (rnd->next(s)) {
    EXPECT_EQ(s.tensors.at("in").shape(), (Shape{1, 3}));
    ++n;
  }
  EXPECT_EQ(n, 2);
}

// ---------------------------------------------------------------- compare_models

namespace {
const std::string kTinyCnn = std::string(TRANSFIX_SOURCE_DIR) + "/examples/tiny_cnn.onnx";
DatasetFactory tiny_random_samples(int64_t n) {
  return [n](const Model& m, const Model*) { return open_random(m.graph.inputs, n, 1); };
}
}  // namespace

TEST(CompareModels, IdenticalModelIsEquivalent) {
  CompareOptions opt;
  opt.calibration_samples = 2;
  opt.per_sample = true;
  CompareResult r = compare_models(kTinyCnn, kTinyCnn, tiny_random_samples(3), opt);
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_EQ(r.verdict, Verdict::kEquivalent);
  EXPECT_EQ(r.samples, 3);
  EXPECT_EQ(r.calibration_samples, 2);
  ASSERT_EQ(r.outputs.size(), 1u);
  const OutputResult& o = r.outputs[0];
  EXPECT_EQ(o.kind, "classification");
  EXPECT_EQ(o.error.max_abs, 0);
  EXPECT_EQ(o.flips + o.near_tie_flips, 0);
  EXPECT_GT(o.noise.max_abs, 0);  // fp32 vs fp64 differ by rounding
  EXPECT_LT(o.noise.max_abs, 1e-5);
  nlohmann::json j = compare_report_json(r, opt);
  EXPECT_EQ(j["verdict"], "EQUIVALENT");
  EXPECT_EQ(j["per_sample"].size(), 3u);
  EXPECT_EQ(j["outputs"][0]["top1"]["flips"], 0);
}

TEST(CompareModels, LoadFailuresAreResults) {
  CompareOptions opt;
  TempDir d;
  write(d.path / "bad.onnx", "this is not a model");
  CompareResult r = compare_models(kTinyCnn, (d.path / "bad.onnx").string(), tiny_random_samples(1), opt);
  EXPECT_EQ(r.verdict, Verdict::kCrash);
  EXPECT_EQ(r.exit_code, 1);
  ASSERT_FALSE(r.crashes.empty());
  EXPECT_EQ(r.crashes[0].side, "target");
  EXPECT_EQ(r.crashes[0].stage, "load");
  CompareResult s = compare_models((d.path / "bad.onnx").string(), kTinyCnn, tiny_random_samples(1), opt);
  EXPECT_EQ(s.exit_code, 2);  // nothing could be tested
  EXPECT_EQ(s.crashes.at(0).side, "source");
}
