// Unboxed fast paths for the hottest operators (see fast_ops.cc).
#pragma once

#include <string>

#include "convert.h"

namespace d2c {

// Runs the operator on argv[1..] through its typed at:: call and stores the result in `out`;
// false when an argument is not the plain kind the path expects (the boxed path then runs, with
// its full argument checks and messages).
using FastOp = decltype(OpEntry::fast);

// The fast path of the operator `key` ("aten::add.Scalar"), or nullptr.
FastOp fastOpFor(const std::string& key);

}  // namespace d2c
