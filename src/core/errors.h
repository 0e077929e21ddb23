// Error types. Every user-facing failure is one of these, so the CLI can map it to an exit code:
// InputError (bad file, bad model, bad arguments) -> exit 2; anything else that escapes is a bug.
#pragma once
#include <stdexcept>
#include <string>

namespace transfix {

// A malformed, hostile or unsupported input (model file, .npy, CLI argument). Exit code 2.
class InputError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// An operator the interpreter or a reader does not support. Also an input problem (exit 2),
// kept separate so conformance runs can count unsupported ops instead of failures.
class UnsupportedError : public InputError {
 public:
  explicit UnsupportedError(const std::string& what, std::string op = {})
      : InputError(what), op_(std::move(op)) {}
  const std::string& op() const { return op_; }

 private:
  std::string op_;
};

// Throws InputError with the message when cond is false.
inline void check_input(bool cond, const std::string& message) {
  if (!cond) throw InputError(message);
}

}  // namespace transfix
