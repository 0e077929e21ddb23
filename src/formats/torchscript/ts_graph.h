// The TorchScript graph as the libtorch plugin hands it over: plain standard-library types only, so
// that nothing but the plugin (src/formats/torchscript/plugin) includes libtorch headers or links
// libtorch. The graph is the module's forward() after inlining every submodule call; module
// attributes (parameters, buffers, numbers) are already resolved into constants here.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <variant>
#include <vector>

namespace transfix::ts {

// Bumped whenever a struct below changes: the reader refuses a plugin built against another layout.
constexpr int kAbiVersion = 1;

enum class ElemType { kF32, kF64, kF16, kBF16, kI64, kI32, kI16, kI8, kU8, kBool };

// A contiguous tensor whose bytes stay owned by libtorch (`owner` keeps them alive).
struct TensorData {
  ElemType type = ElemType::kF32;
  std::vector<int64_t> shape;
  const void* data = nullptr;
  size_t bytes = 0;
  std::shared_ptr<void> owner;
};

struct None {};
// A value known when the file is read: prim::Constant outputs and module attributes.
using Const = std::variant<None, bool, int64_t, double, std::string, std::vector<int64_t>, std::vector<double>,
                           TensorData>;

struct Value {
  std::string name;   // TorchScript debug name ("input.3"); attribute path for parameters
  std::string type;   // TorchScript type ("Tensor", "int", "int[]", "Tensor[]", "float", ...)
  bool is_const = false;
  bool is_param = false;  // a module attribute (parameter or buffer); name is its path ("features.0.weight")
  bool is_module = false; // a submodule object (only reachable through prim::GetAttr; never used by ops)
  Const value;
};

struct Node {
  std::string kind;          // "aten::_convolution", "prim::ListConstruct", ...
  std::vector<int> inputs;   // indices into Graph::values
  std::vector<int> outputs;
  std::string module_path;   // "features.3.conv.1" from the inlined call stack; "" at top level
  int64_t index = -1;        // position in the inlined graph
  bool has_blocks = false;   // control flow (prim::If, prim::Loop): not lowered
};

struct Graph {
  std::vector<Value> values;
  std::vector<Node> nodes;
  std::vector<int> inputs;   // forward()'s arguments after `self`
  std::vector<int> outputs;
};

// Result codes of the plugin's entry point.
enum class Status { kOk = 0, kInputError = 1, kUnsupported = 2 };

}  // namespace transfix::ts

extern "C" {
// Implemented by the plugin (libtransfix_torchscript.so).
int transfix_torchscript_abi_version();
// Reads `path` into `out`; on failure returns a Status other than kOk with a message in `error`.
int transfix_torchscript_read(const char* path, transfix::ts::Graph* out, std::string* error);
}
