// What ops of the canonical op set mean, in comparable form: the family an op belongs to (so that a
// Clip and a Relu, or an Upsample and a Resize, can be paired), its hyperparameters with defaults and
// auto_pad resolved, and a node's name as reports give it. Shared by localize and coverage.
#pragma once
#include <functional>
#include <map>
#include <string>
#include <utility>

#include "core/graph.h"

namespace transfix {

// Op family used to pair nodes of two models (conv, max_pool, activation, resize, ...); "layout" for
// ops that only move data (Transpose, Reshape, Identity...).
std::string op_family(const std::string& op_type);

// Canonical, comparable hyperparameters of a node ("pads" -> "[1,1,1,1]"). `shape_of` gives the shape
// of a value of the node's graph (empty when unknown).
using ShapeOf = std::function<Shape(const std::string&)>;
std::map<std::string, std::string> canonical_attributes(const Model& m, const Node& n, const ShapeOf& shape_of);

// The bounds a Relu (0, inf) or Clip (attributes before opset 11, constant inputs after) clamps to.
std::pair<double, double> clamp_bounds(const Model& m, const Node& n);

// An activation as one comparable signature: Relu is "clip(0, inf)", Relu6 "clip(0, 6)", ...
std::string activation_signature(const Model& m, const Node& n);

// A node in its model's own terms, as reports name it: "Conv 'features.0'" (provenance op type and name).
std::string node_label(const Node& n);

}  // namespace transfix
