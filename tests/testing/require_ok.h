// Test helper: stop the current test on a non-OK Status, printing it.
#pragma once

#include <catch2/catch.hpp>

#include "common/status.h"

namespace pst::testing {

inline void RequireOk(const Status& s) {
  INFO(s.ToString());
  REQUIRE(s.ok());
}

}  // namespace pst::testing
