#include "core/graph.h"

#include <algorithm>
#include <deque>
#include <set>
#include <unordered_set>

#include "core/errors.h"

namespace transfix {

const char* Attribute::type_name() const {
  static const char* kNames[] = {"INT", "FLOAT", "STRING", "TENSOR", "INTS", "FLOATS", "STRINGS"};
  return kNames[value.index()];
}

namespace {
template <typename T>
const T* get_attr(const Node& n, const std::string& key, const char* want) {
  auto it = n.attrs.find(key);
  if (it == n.attrs.end()) return nullptr;
  const T* v = std::get_if<T>(&it->second.value);
  if (!v)
    throw InputError("node '" + n.name + "' (" + n.op_type + "): attribute '" + key + "' is " +
                     it->second.type_name() + ", expected " + want);
  return v;
}
}  // namespace

int64_t Node::attr_int(const std::string& key, int64_t def) const {
  auto* v = get_attr<int64_t>(*this, key, "INT");
  return v ? *v : def;
}

double Node::attr_float(const std::string& key, double def) const {
  auto it = attrs.find(key);
  if (it != attrs.end())
    if (auto* i = std::get_if<int64_t>(&it->second.value)) return static_cast<double>(*i);
  auto* v = get_attr<double>(*this, key, "FLOAT");
  return v ? *v : def;
}

std::string Node::attr_string(const std::string& key, const std::string& def) const {
  auto* v = get_attr<std::string>(*this, key, "STRING");
  return v ? *v : def;
}

std::vector<int64_t> Node::attr_ints(const std::string& key, const std::vector<int64_t>& def) const {
  auto* v = get_attr<std::vector<int64_t>>(*this, key, "INTS");
  return v ? *v : def;
}

std::vector<double> Node::attr_floats(const std::string& key, const std::vector<double>& def) const {
  auto* v = get_attr<std::vector<double>>(*this, key, "FLOATS");
  return v ? *v : def;
}

const Tensor* Node::attr_tensor(const std::string& key) const { return get_attr<Tensor>(*this, key, "TENSOR"); }

const ValueInfo* Graph::find_value_info(const std::string& name) const {
  auto it = value_info.find(name);
  if (it != value_info.end()) return &it->second;
  for (const auto& v : outputs)
    if (v.name == name) return &v;
  for (const auto& v : inputs)
    if (v.name == name) return &v;
  return nullptr;
}

std::vector<ValueInfo> Graph::data_inputs() const {
  std::vector<ValueInfo> v;
  for (const auto& in : inputs)
    if (!initializers.count(in.name)) v.push_back(in);
  return v;
}

int Graph::producer_index(const std::string& value) const {
  for (size_t i = 0; i < nodes.size(); ++i)
    for (const auto& o : nodes[i].outputs)
      if (o == value) return static_cast<int>(i);
  return -1;
}

int Graph::reader_count(const std::string& value) const {
  int readers = 0;
  for (const auto& n : nodes)
    for (const auto& in : n.inputs) readers += in == value;
  return readers;
}

const Node* Graph::producer(const std::string& value) const {
  const int i = producer_index(value);
  return i < 0 ? nullptr : &nodes[static_cast<size_t>(i)];
}

std::set<std::string> Graph::constant_value_names() const {
  std::set<std::string> constant;
  for (const auto& [name, t] : initializers) constant.insert(name);
  for (size_t i : topological_order()) {
    const Node& n = nodes[i];
    if (std::all_of(n.inputs.begin(), n.inputs.end(), [&](const std::string& in) { return in.empty() || constant.count(in); }))
      constant.insert(n.outputs.begin(), n.outputs.end());
  }
  return constant;
}

std::vector<size_t> Graph::topological_order() const {
  std::unordered_map<std::string, size_t> producer;
  for (size_t i = 0; i < nodes.size(); ++i)
    for (const auto& out : nodes[i].outputs)
      if (!out.empty()) {
        if (producer.count(out) || initializers.count(out))
          throw InputError("value '" + out + "' is produced more than once");
        producer[out] = i;
      }
  std::unordered_set<std::string> available;
  for (const auto& in : inputs) available.insert(in.name);
  for (const auto& [name, t] : initializers) available.insert(name);

  std::vector<size_t> missing(nodes.size(), 0);
  std::vector<std::vector<size_t>> consumers(nodes.size());
  for (size_t i = 0; i < nodes.size(); ++i) {
    for (const auto& in : nodes[i].inputs) {
      if (in.empty() || available.count(in)) continue;
      auto it = producer.find(in);
      if (it == producer.end())
        throw InputError("node '" + nodes[i].name + "' (" + nodes[i].op_type + ") reads value '" + in +
                         "' that no node, input or initializer provides");
      ++missing[i];
      consumers[it->second].push_back(i);
    }
  }
  std::deque<size_t> ready;
  for (size_t i = 0; i < nodes.size(); ++i)
    if (missing[i] == 0) ready.push_back(i);
  std::vector<size_t> order;
  order.reserve(nodes.size());
  while (!ready.empty()) {
    size_t i = ready.front();
    ready.pop_front();
    order.push_back(i);
    for (size_t c : consumers[i])
      if (--missing[c] == 0) ready.push_back(c);
  }
  if (order.size() != nodes.size()) {
    for (size_t i = 0; i < nodes.size(); ++i)
      if (missing[i] != 0)
        throw InputError("graph has a cycle through node '" + nodes[i].name + "' (" + nodes[i].op_type + ")");
  }
  return order;
}

int64_t Model::opset() const {
  auto it = meta.opsets.find("");
  if (it != meta.opsets.end()) return it->second;
  it = meta.opsets.find("ai.onnx");
  return it != meta.opsets.end() ? it->second : 0;
}

std::string Graph::unused_name(const std::string& base) const {
  std::set<std::string> used;
  for (const auto& [k, v] : initializers) used.insert(k);
  for (const auto& n : nodes)
    for (const auto& o : n.outputs) used.insert(o);
  for (const auto& i : inputs) used.insert(i.name);
  for (const auto& [k, v] : value_info) used.insert(k);
  std::string name = base;
  for (int i = 1; used.count(name); ++i) name = base + "_" + std::to_string(i);
  return name;
}

}  // namespace transfix
