// Verdicts: calibrated tolerances, flips, the budget of a conversion's intended precision.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>

#include "compare/compare.h"
#include "compare/compare_internal.h"

namespace transfix {

const char* verdict_name(Verdict v) {
  switch (v) {
    case Verdict::kEquivalent: return "EQUIVALENT";
    case Verdict::kDegraded: return "DEGRADED";
    case Verdict::kDivergent: return "DIVERGENT";
    case Verdict::kCrash: return "CRASH";
  }
  return "?";
}

double OutputResult::flip_rate() const {
  if (kind == "classification") return instances ? static_cast<double>(flips) / static_cast<double>(instances) : 0;
  if (kind == "dense") return positions ? static_cast<double>(position_flips) / static_cast<double>(positions) : 0;
  return 0;
}

double OutputResult::noise_units(double err) const {
  if (noise.max_abs > 0) return err / noise.max_abs;
  return err > 0 ? std::numeric_limits<double>::infinity() : 0.0;
}

bool user_mode(const CompareOptions& o) { return o.atol.has_value() || o.rtol.has_value(); }

double flip_threshold(const OutputResult& o, const CompareOptions& opt, double source_score) {
  if (user_mode(opt)) return opt.atol.value_or(0.0) + opt.rtol.value_or(0.0) * std::fabs(source_score);
  return o.tolerance;
}

void record_flip_margin(OutputResult& o, const CompareOptions& opt, double margin, double source_score) {
  o.flip_margins.push_back({margin, source_score});
  if (!o.tolerance_ready) {
    o.pending_margins.push_back(margin);  // decided once calibration has set the tolerance
    return;
  }
  bool near_tie = !(margin > flip_threshold(o, opt, source_score));
  if (o.kind == "dense") ++(near_tie ? o.position_near_tie_flips : o.position_flips);
  else ++(near_tie ? o.near_tie_flips : o.flips);
}

double integer_output_step(const ValueInfo& v) {
  if (!v.quant || !is_integer(v.dtype) || v.quant->scale.size() != 1) return 0.0;
  return v.quant->scale[0] > 0 ? v.quant->scale[0] : 0.0;
}

// Calibrated tolerance: noise_multiple x the noise floor, at least abs_floor x the output scale, and at
// least one step of the source's output grid when that output is an integer tensor (two integer
// implementations may round a requantization differently: TFLite's reference kernels, its XNNPACK
// delegate and Arm NN differ by a step on the same model).
void resolve_tolerance(OutputResult& o, const CompareOptions& opt) {
  if (o.tolerance_ready) return;
  double scale = o.calibration_samples ? o.noise.max_ref_abs : o.error.max_ref_abs;
  double floor = opt.abs_floor * scale;
  double from_noise = opt.noise_multiple * o.noise.max_abs;
  o.tolerance = std::max({floor, from_noise, o.quantization_step});
  char buf[160];
  if (user_mode(opt)) {
    std::snprintf(buf, sizeof buf, "user: |t - s| <= %g + %g |s|", opt.atol.value_or(0.0), opt.rtol.value_or(0.0));
  } else if (o.quantization_step > 0 && o.quantization_step >= std::max(floor, from_noise)) {
    std::snprintf(buf, sizeof buf, "1 step of the source's quantized output (%g)", o.quantization_step);
  } else if (o.calibration_samples == 0) {
    std::snprintf(buf, sizeof buf, "%g x output scale (no fp64 calibration)", opt.abs_floor);
  } else if (from_noise >= floor) {
    std::snprintf(buf, sizeof buf, "%g x noise floor", opt.noise_multiple);
  } else {
    std::snprintf(buf, sizeof buf, "floor %g x output scale %.3g (noise floor below it)", opt.abs_floor, scale);
  }
  o.tolerance_basis = buf;
  o.tolerance_ready = true;
  // Pending margins had no source score attached: in user mode judge them against atol + rtol x scale.
  for (double m : o.pending_margins) {
    double threshold = user_mode(opt) ? opt.atol.value_or(0.0) + opt.rtol.value_or(0.0) * scale : o.tolerance;
    bool near_tie = !(m > threshold);
    if (o.kind == "dense") ++(near_tie ? o.position_near_tie_flips : o.position_flips);
    else ++(near_tie ? o.near_tie_flips : o.flips);
  }
  o.pending_margins.clear();
}

namespace {

std::string fmt(const char* f, double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, f, v);
  return buf;
}

}  // namespace

// How much of a quantized target's error its own quantization explains.
std::string quantization_split_reason(const OutputResult& o) {
  std::string why = std::string("of this, the target's ") +
                    (o.half_precision_twin ? "float16 arithmetic (target vs its float32 twin" : "activation quantization (target vs its float twin") +
                    ", intended) accounts for max abs " +
                    fmt("%.3g", o.quantization.max_abs) + ", SNR " + fmt("%.3g", o.quantization.snr_db()) + " dB";
  if (o.kind == "classification") why += ", " + std::to_string(o.quantization_flips) + " top-1 changes";
  why += "; the rest (float twin vs source: weight rounding and any conversion fault) max abs " +
         fmt("%.3g", o.conversion.max_abs) + ", SNR " + fmt("%.3g", o.conversion.snr_db()) + " dB";
  if (o.kind == "classification") why += ", " + std::to_string(o.conversion_flips) + " top-1 changes";
  return why;
}

// One error against its budget: k times a simulation's max and mean error plus the float32 tolerance,
// and k times its top-1 changes plus one. `what` is filled with the numbers either way.
bool within_budget(const OutputResult& o, const ErrorStats& err, int64_t flips, const ErrorStats& sim, int64_t sim_flips,
                   double k, std::string& what) {
  const double max_budget = k * sim.max_abs + o.tolerance, mean_budget = k * sim.mean_abs() + o.tolerance;
  const bool classification = o.kind == "classification";
  const int64_t flip_budget = static_cast<int64_t>(std::floor(k * static_cast<double>(sim_flips))) + 1;
  const bool max_ok = err.max_abs <= max_budget, mean_ok = err.mean_abs() <= mean_budget;
  const bool flips_ok = !classification || flips <= flip_budget;
  what = "max abs " + fmt("%.3g", err.max_abs) + (max_ok ? " <= " : " > ") + fmt("%.3g", max_budget) + ", mean abs " +
         fmt("%.3g", err.mean_abs()) + (mean_ok ? " <= " : " > ") + fmt("%.3g", mean_budget);
  if (classification) what += ", top-1 changes " + std::to_string(flips) + (flips_ok ? " <= " : " > ") + std::to_string(flip_budget);
  what += " (" + fmt("%g", k) + " x the simulation's max abs " + fmt("%.3g", sim.max_abs) + ", mean abs " +
          fmt("%.3g", sim.mean_abs()) + (classification ? ", " + std::to_string(sim_flips) + " top-1 changes" : "") +
          ", plus the float32 tolerance)";
  return err.nonfinite_mismatch == 0 && max_ok && mean_ok && flips_ok;
}

// A target meant to run in a lower precision is judged against that precision simulated on the
// source (within_budget, k = precision_budget): its whole error against the whole precision; and,
// where the quantization split shows the float twin (the target's graph and stored weights, no
// activation rounded), the twin's error against the weights' storage alone: a fault then shows
// undrowned by the activations' rounding. Within both, the difference is what the precision costs
// (EQUIVALENT within it); beyond, the reasons say by how much.
void judge_intended_precision(OutputResult& o, const CompareOptions& opt) {
  o.within_intended = false;
  o.precision_note.clear();
  if (!o.simulated || o.intended_precision.empty() || !o.mismatch.empty() || o.verdict == Verdict::kCrash) return;
  const double k = opt.precision_budget;
  std::string total, weights;
  bool ok = within_budget(o, o.error, o.flips + o.near_tie_flips, o.simulation, o.simulation_flips, k, total);
  const bool split = o.quantization_split && o.weight_simulated;
  if (split) ok &= within_budget(o, o.conversion, o.conversion_flips, o.weight_simulation, o.weight_simulation_flips, k, weights);
  const std::string numbers = total + (split ? "; its float twin (weights, no activation rounded) " + weights : "");
  if (ok) {
    o.within_intended = true;
    o.precision_note = "within " + o.intended_precision + ": " + numbers;
    if (o.verdict != Verdict::kEquivalent) o.reasons.clear();
    o.verdict = Verdict::kEquivalent;
  } else {
    o.precision_note = "beyond " + o.intended_precision + ": " + numbers;
    o.reasons.push_back("more than " + o.intended_precision + " simulated on the source explains: " + numbers);
  }
}

void decide_verdict(OutputResult& o, const CompareOptions& opt, bool target_crashed) {
  o.reasons.clear();
  resolve_tolerance(o, opt);
  if (target_crashed) {
    o.verdict = Verdict::kCrash;
    o.reasons.push_back("the target crashed (see crashes)");
  } else if (!o.mismatch.empty()) {
    o.verdict = Verdict::kDivergent;
    o.reasons.push_back(o.mismatch);
  } else {
    bool flips_ok = o.flip_rate() <= opt.max_flip_rate;
    bool numeric_ok = o.error.nonfinite_mismatch == 0 &&
                      (user_mode(opt) ? o.user_violations == 0 : o.error.max_abs <= o.tolerance);
    if (!flips_ok) {
      o.verdict = Verdict::kDivergent;
      if (o.kind == "classification")
        o.reasons.push_back(std::to_string(o.flips) + " of " + std::to_string(o.instances) +
                            " top-1 labels flip beyond noise (flip rate " + fmt("%.3g", o.flip_rate()) + " > " +
                            fmt("%g", opt.max_flip_rate) + ")");
      else
        o.reasons.push_back(std::to_string(o.position_flips) + " of " + std::to_string(o.positions) +
                            " positions change their argmax beyond noise (rate " + fmt("%.3g", o.flip_rate()) + ")");
    } else if (!numeric_ok) {
      o.verdict = Verdict::kDegraded;
    } else {
      o.verdict = Verdict::kEquivalent;
    }
    if (!numeric_ok) {
      if (o.error.nonfinite_mismatch)
        o.reasons.push_back(std::to_string(o.error.nonfinite_mismatch) + " elements are NaN/Inf on one side only");
      if (user_mode(opt) && o.user_violations)
        o.reasons.push_back(std::to_string(o.user_violations) + " elements outside " + o.tolerance_basis.substr(6));
      if (!user_mode(opt) && o.error.max_abs > o.tolerance)
        o.reasons.push_back("max abs error " + fmt("%.3g", o.error.max_abs) + " > tolerance " + fmt("%.3g", o.tolerance) +
                            " (" + o.tolerance_basis + ")");
    }
  }
  if (!user_mode(opt)) judge_intended_precision(o, opt);
  if (o.quantization_split && o.verdict != Verdict::kEquivalent && o.verdict != Verdict::kCrash)
    o.reasons.push_back(quantization_split_reason(o));
  o.within_tolerance = o.verdict == Verdict::kEquivalent;
}

}  // namespace transfix
