// Straightforward double-precision reference implementations of the chitu ops.
#pragma once

#include "OpCases.h"

namespace chitu::test {

// Computes the result of op case `c` on `inputs`; returns an error message for ops it
// does not know. Results are not yet rounded to the result dtype.
std::string reference(const OpCase &c, const std::vector<NdArray> &inputs, NdArray &out);

} // namespace chitu::test
