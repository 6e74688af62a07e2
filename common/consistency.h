// What a job's consistency model (train.consistency, train.staleness) asks of
// each role, answered in one place instead of by comparing the enum at every
// use:
//   worker:    which model version a pull at clock c waits for; whether step
//              c+1's parameters are prefetched while step c computes; whether
//              the next lease is asked for ahead, and a worker with no lease
//              left idles (pushing empty clocks) until the others' leases end;
//   scheduler: whether leases follow the clocks in lockstep;
//   PS:        whether a clock's pushes are applied together once every worker
//              on the roster has pushed (in rank order), or each on arrival.
// Adding a model means a Consistency enumerant (job file name and wire id) and
// its answers here, plus tests (tests/common/consistency_test.cc).
// Cheap to copy; no state beyond the spec's two fields.
#pragma once

#include <cstdint>
#include <string>

#include "common/job_spec.h"

namespace pst {

class ConsistencyPolicy {
 public:
  explicit ConsistencyPolicy(const TrainSpec& train)
      : kind_(train.consistency), bound_(train.staleness) {}
  explicit ConsistencyPolicy(Consistency kind, uint32_t bound = 0) : kind_(kind), bound_(bound) {}

  Consistency kind() const { return kind_; }
  // BSP: every worker trains clock c on the model of clock c; the PS applies
  // a clock's pushes together, the scheduler leases clock ranges in lockstep.
  bool lockstep() const { return kind_ == Consistency::kBsp; }
  // ASP, SSP: the PS applies each push as it arrives.
  bool apply_on_arrival() const { return !lockstep(); }
  // BSP, SSP: a pull waits until the PS holds the version PullVersion names
  // (BSP: the applied clocks; SSP: every live worker's pushed clocks); ASP
  // pulls read whatever the PS holds.
  bool pulls_wait() const { return kind_ != Consistency::kAsp; }
  // ASP, SSP: a worker asks for its next lease before it finishes the current
  // one, and one with nothing left to lease waits for the others' leases.
  bool ask_ahead() const { return !lockstep(); }
  // SSP with a bound of at least 1: step c+1's parameters are pulled while step
  // c computes (its own gradient then arrives one step late, within the bound).
  bool prefetch() const { return kind_ == Consistency::kSsp && bound_ >= 1; }
  // The version a pull at clock c waits for: c (BSP), c - bound (SSP, at
  // least 0), 0 = whatever the PS has (ASP).
  uint64_t PullVersion(uint64_t clock) const;
  // The version an evaluation ordered for model version `ordered` reads when
  // the evaluating worker is at `clock`: BSP evaluates exactly that version,
  // the others the model as their pulls see it.
  uint64_t EvalVersion(uint64_t ordered, uint64_t clock) const {
    return lockstep() ? ordered : PullVersion(clock);
  }
  // The staleness bound in clocks as text: "0" (BSP), "3" (SSP), "none" (ASP).
  std::string BoundText() const;

 private:
  Consistency kind_;
  uint32_t bound_;
};

}  // namespace pst
