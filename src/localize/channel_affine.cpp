#include "localize/channel_affine.h"

#include <cmath>

namespace transfix {
namespace {

// The only node reading `value` (-1 when none, several, or the value is also a graph output).
int sole_reader(const Graph& g, const std::string& value) {
  for (const auto& o : g.outputs)
    if (o.name == value) return -1;
  int reader = -1;
  for (size_t i = 0; i < g.nodes.size(); ++i)
    for (const auto& in : g.nodes[i].inputs)
      if (in == value) {
        if (reader >= 0 && reader != static_cast<int>(i)) return -1;
        reader = static_cast<int>(i);
      }
  return reader;
}

std::optional<std::vector<double>> elementwise(const std::vector<double>& a, const std::vector<double>& b,
                                               double (*f)(double, double)) {
  if (a.size() != b.size() && a.size() != 1 && b.size() != 1) return std::nullopt;
  std::vector<double> out(std::max(a.size(), b.size()));
  for (size_t i = 0; i < out.size(); ++i) out[i] = f(a[a.size() == 1 ? 0 : i], b[b.size() == 1 ? 0 : i]);
  return out;
}

std::optional<std::vector<double>> evaluate(const Graph& g, const std::string& value, int depth) {
  if (value.empty() || depth > 16) return std::nullopt;
  if (auto it = g.initializers.find(value); it != g.initializers.end()) {
    if (it->second.numel() > (1 << 20)) return std::nullopt;  // per-channel constants only
    return it->second.to_f64_vector();
  }
  const Node* n = g.producer(value);
  if (!n || !n->domain.empty()) return std::nullopt;
  const std::string& op = n->op_type;
  if (op == "Constant") {
    const Tensor* t = n->attr_tensor("value");
    return t ? std::optional<std::vector<double>>(t->to_f64_vector()) : std::nullopt;
  }
  auto in = [&](size_t i) { return i < n->inputs.size() ? evaluate(g, n->inputs[i], depth + 1) : std::nullopt; };
  if (op == "Cast" || op == "Identity" || op == "Reshape" || op == "Squeeze" || op == "Unsqueeze") return in(0);
  auto unary = [&](double (*f)(double)) -> std::optional<std::vector<double>> {
    auto x = in(0);
    if (x)
      for (double& v : *x) v = f(v);
    return x;
  };
  if (op == "Sqrt") return unary([](double v) { return std::sqrt(v); });
  if (op == "Reciprocal") return unary([](double v) { return 1.0 / v; });
  if (op == "Neg") return unary([](double v) { return -v; });
  auto a = in(0), b = in(1);
  if (!a || !b) return std::nullopt;
  if (op == "Add") return elementwise(*a, *b, [](double x, double y) { return x + y; });
  if (op == "Sub") return elementwise(*a, *b, [](double x, double y) { return x - y; });
  if (op == "Mul") return elementwise(*a, *b, [](double x, double y) { return x * y; });
  if (op == "Div") return elementwise(*a, *b, [](double x, double y) { return x / y; });
  return std::nullopt;
}

// One affine op reading `x`: its scale and shift (one value or per channel), or nullopt.
std::optional<std::pair<std::vector<double>, std::vector<double>>> affine_of(const Graph& g, const Node& n,
                                                                             const std::string& x, size_t channels) {
  auto fits = [&](const std::optional<std::vector<double>>& v) { return v && (v->size() == 1 || v->size() == channels); };
  auto widen = [&](std::vector<double> v) { return v.size() == 1 ? std::vector<double>(channels, v[0]) : v; };
  const std::string& op = n.op_type;
  if (!n.domain.empty() || n.outputs.size() != 1) return std::nullopt;
  if (op == "Identity" || op == "Dropout") return std::make_pair(std::vector<double>(channels, 1.0), std::vector<double>(channels, 0.0));
  if (op == "BatchNormalization") {
    if (n.inputs.size() < 5 || n.inputs[0] != x) return std::nullopt;
    auto gamma = evaluate(g, n.inputs[1], 0), beta = evaluate(g, n.inputs[2], 0), mean = evaluate(g, n.inputs[3], 0),
         var = evaluate(g, n.inputs[4], 0);
    if (!fits(gamma) || !fits(beta) || !fits(mean) || !fits(var)) return std::nullopt;
    const double eps = n.attr_float("epsilon", 1e-5);
    std::vector<double> s = widen(*gamma), c = widen(*beta), m = widen(*mean), v = widen(*var);
    for (size_t i = 0; i < channels; ++i) {
      s[i] /= std::sqrt(v[i] + eps);
      c[i] -= m[i] * s[i];
    }
    return std::make_pair(s, c);
  }
  if (n.inputs.size() != 2 || (op != "Mul" && op != "Div" && op != "Add" && op != "Sub")) return std::nullopt;
  const bool x_first = n.inputs[0] == x;
  if (!x_first && n.inputs[1] != x) return std::nullopt;
  auto k = evaluate(g, n.inputs[x_first ? 1 : 0], 0);
  if (!fits(k)) return std::nullopt;
  std::vector<double> kv = widen(*k), one(channels, 1.0), zero(channels, 0.0);
  if (op == "Mul") return std::make_pair(kv, zero);
  if (op == "Add") return std::make_pair(one, kv);
  if (op == "Div" && x_first) {
    for (double& v : kv) v = 1.0 / v;
    return std::make_pair(kv, zero);
  }
  if (op == "Sub" && x_first) {
    for (double& v : kv) v = -v;
    return std::make_pair(one, kv);
  }
  if (op == "Sub") {  // k - x
    for (double& v : one) v = -1.0;
    return std::make_pair(one, kv);
  }
  return std::nullopt;
}

}  // namespace

std::optional<std::vector<double>> evaluate_constant(const Graph& g, const std::string& value) { return evaluate(g, value, 0); }

std::optional<ChannelAffine> channel_affine_after(const Graph& g, const std::string& value, int64_t channels,
                                                  const std::function<bool(int)>& accept) {
  if (channels < 1) return std::nullopt;
  const size_t c = static_cast<size_t>(channels);
  ChannelAffine a{std::vector<double>(c, 1.0), std::vector<double>(c, 0.0), {}, value};
  for (int step = 0; step < 12; ++step) {
    const int r = sole_reader(g, a.output);
    if (r < 0 || (accept && !accept(r))) break;
    auto f = affine_of(g, g.nodes[static_cast<size_t>(r)], a.output, c);
    if (!f) break;
    for (size_t i = 0; i < c; ++i) {
      a.scale[i] *= f->first[i];
      a.shift[i] = a.shift[i] * f->first[i] + f->second[i];
    }
    a.nodes.push_back(r);
    a.output = g.nodes[static_cast<size_t>(r)].outputs[0];
  }
  if (a.nodes.empty()) return std::nullopt;
  return a;
}

void fold_channel_affine(const ChannelAffine& a, Tensor& w, std::vector<double>& b) {
  const int64_t out = w.dim(0), per = w.numel() / out;
  double* wv = w.mutable_data<double>();
  for (int64_t o = 0; o < out; ++o) {
    const size_t i = static_cast<size_t>(o);
    for (int64_t j = 0; j < per; ++j) wv[o * per + j] *= a.scale[i];
    b[i] = b[i] * a.scale[i] + a.shift[i];
  }
}

}  // namespace transfix
