// Faults that belong together: several diagnoses of one op merged into one fault, and faults with one
// cause at several ops (every folded BatchNorm's bias lost the same way) grouped into one root cause.
#pragma once
#include <vector>

#include "localize/diagnose.h"

namespace transfix {

// One fault per target op: a fused op whose output and pre-activation value both fail (a wrong weight
// seen before and after its activation) is one fault, its most severe diagnosis first. Repeated
// findings (the same source op missing from two segments) are said once.
void merge_faults_at_one_op(std::vector<Fault>& faults);

// The faults grouped by cause (same category and kind; any weight difference counts as one cause), in
// the order of their first fault, each with a one-line summary and the count of places.
std::vector<RootCause> group_root_causes(const std::vector<Fault>& faults);

}  // namespace transfix
