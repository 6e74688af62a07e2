#include "common/consistency.h"

namespace pst {

uint64_t ConsistencyPolicy::PullVersion(uint64_t clock) const {
  switch (kind_) {
    case Consistency::kBsp:
      return clock;
    case Consistency::kSsp:
      return clock > bound_ ? clock - bound_ : 0;
    case Consistency::kAsp:
      return 0;
  }
  return clock;
}

std::string ConsistencyPolicy::BoundText() const {
  switch (kind_) {
    case Consistency::kBsp:
      return "0";
    case Consistency::kSsp:
      return std::to_string(bound_);
    case Consistency::kAsp:
      return "none";
  }
  return "?";
}

}  // namespace pst
