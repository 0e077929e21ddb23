// npy_close A.npy B.npy [--rel R]: max |A - B| relative to the output scale max|B|.
// Prints the numbers and the top-1 of both; exit 0 when rel <= R (default 1e-4), 1 otherwise, 2 on error.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <string>

#include "core/errors.h"
#include "data/npy.h"

int main(int argc, char** argv) {
  if (argc < 3) {
    std::fprintf(stderr, "usage: npy_close A.npy B.npy [--rel R]\n");
    return 2;
  }
  double limit = 1e-4;
  for (int i = 3; i + 1 < argc; ++i)
    if (std::string(argv[i]) == "--rel") limit = std::stod(argv[i + 1]);
  try {
    auto a_t = transfix::read_npy(argv[1]), b_t = transfix::read_npy(argv[2]);
    if (a_t.numel() != b_t.numel()) {
      std::printf("size mismatch: %s vs %s\n", transfix::shape_str(a_t.shape()).c_str(), transfix::shape_str(b_t.shape()).c_str());
      return 1;
    }
    auto a = a_t.to_f64_vector(), b = b_t.to_f64_vector();
    double max_abs = 0, scale = 0;
    for (size_t i = 0; i < a.size(); ++i) {
      double d = std::fabs(a[i] - b[i]);
      max_abs = std::isnan(d) ? INFINITY : std::max(max_abs, d);
      scale = std::max(scale, std::fabs(b[i]));
    }
    double rel = scale > 0 ? max_abs / scale : max_abs;
    auto top1 = [](const std::vector<double>& v) { return std::max_element(v.begin(), v.end()) - v.begin(); };
    std::printf("max_abs %.3e  scale %.3e  rel %.3e  top1 %td/%td  %s\n", max_abs, scale, rel, top1(a), top1(b),
                rel <= limit ? "ok" : "TOO FAR");
    return rel <= limit ? 0 : 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "npy_close: %s\n", e.what());
    return 2;
  }
}
