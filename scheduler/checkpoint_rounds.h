// pst::CheckpointRounds: drives coordinated checkpoints from the scheduler's
// loop. It measures the cluster's pace (clocks per second), starts a round
// when one is due (every_steps, every_seconds, or asked for by `pstrain
// checkpoint`), feeds the PS reports to the CheckpointCoordinator
// (scheduler/checkpoint_coordinator.h), records a complete checkpoint in the
// job store (the commit point) and answers the clients waiting for one. Each
// waiting client holds one of its requests in the scheduler's ClientTable
// until it is answered, so network.max_in_flight_per_client bounds how many
// one client can leave waiting. Run() thread only; not thread-safe.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "common/client_table.h"
#include "common/status.h"
#include "scheduler/requests.h"
#include "scheduler/scheduler_core.h"

namespace pst {

class CheckpointRounds {
 public:
  CheckpointRounds(SchedulerCore& core, ClientTable& clients)
      : core_(core), st_(core.st), clients_(clients) {}
  CheckpointRounds(const CheckpointRounds&) = delete;
  CheckpointRounds& operator=(const CheckpointRounds&) = delete;

  // A client asks for a checkpoint now. Returns true when the request is
  // answered later (once a round completes or fails, or its timeout passes);
  // false when `resp` holds the answer already: kFailedPrecondition if the
  // job is not running, kResourceExhausted (counted) if the client has
  // max_in_flight_per_client requests waiting already. REQUIRES: `identity`
  // was admitted to the ClientTable.
  bool Request(const CheckpointCall& call, const std::string& identity, uint64_t request_id,
               proto::CheckpointResponse::Builder resp);
  // While running: updates the pace, starts a due round, decides the round
  // in flight from the PS reports. Cheap on most calls (it runs every loop
  // tick): the walk over every node for the fastest clock happens once per
  // pace window and when a round may be due.
  void Tick(Clock::time_point now);
  // Answers waiting clients whose timeout passed, or all of them once the
  // job stopped running.
  void ExpireWaiters(Clock::time_point now);
  // Drops the round in flight and answers every waiting client kAborted with
  // `why` (the job rolls back).
  void Abort(const std::string& why);

 private:
  // core_.FastestClock(), computed at most once per Tick (*memo).
  uint64_t Fastest(std::optional<uint64_t>* memo) const;
  // Measures how many clocks per second the fastest node advances, over
  // windows of options.pace_window (restarted by a rollback).
  void UpdatePace(Clock::time_point now, std::optional<uint64_t>* fastest);
  // Starts a round if one is due.
  void MaybeBegin(Clock::time_point now, std::optional<uint64_t>* fastest);
  // Records a round every PS wrote: the commit point. False if the store
  // could not record it (the round does not count).
  bool Commit(const CompleteCheckpoint& c);
  void Answer(const CheckpointWaiter& w, const Status& s, const CompleteCheckpoint* done);

  SchedulerCore& core_;
  SchedulerState& st_;
  ClientTable& clients_;
  uint32_t pace_generation_ = 0;  // the generation the pace window started in
};

}  // namespace pst
