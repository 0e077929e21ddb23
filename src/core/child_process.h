// Library code that may crash or loop on a hostile file (libhdf5, ONNX shape inference) runs in a
// forked child: its result comes back through a pipe, and a crash or a hang is the parent's to report.
#pragma once
#include <cstdint>
#include <functional>
#include <string>

namespace transfix {

struct ChildOutcome {
  enum class End { kNotStarted, kExited, kSignaled, kTimedOut, kTooMuchOutput };
  End end = End::kNotStarted;
  int code = 0;        // the exit status (kExited) or the signal (kSignaled)
  std::string output;  // what the child sent (complete when it exited 0)
};

// Exit status of a child whose `work` threw.
inline constexpr int kChildWorkFailed = 3;

// Runs `work` in a forked child and returns what it produced: at most `max_bytes`, within `timeout_seconds`
// (the child is killed otherwise). The child exits 0 after sending work's result, kChildWorkFailed when
// work throws; a signal or another status means the code it ran crashed (or a sanitizer reported).
ChildOutcome run_in_child(const std::function<std::string()>& work, int timeout_seconds, uint64_t max_bytes);

}  // namespace transfix
