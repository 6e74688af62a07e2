// pst::Membership: who is in the job. PS and workers register (a PS for a
// shard id, a worker at any time), send heartbeats (their progress, and for a
// PS its checkpoint and roster reports), leave, and are declared suspect and
// dead when their heartbeats stop. It keeps the roster of workers the PS wait
// for (a joining worker enters it once it asks for data, a departed one is
// removed once every PS has let it go) and the directive every PS converges
// to (scheduler/scheduler.h). A dead or departed PS starts a rollback
// (scheduler/recovery.h). Run() thread only; not thread-safe.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "proto/scheduler.capnp.h"
#include "scheduler/requests.h"
#include "scheduler/scheduler_core.h"

namespace pst {

class Recovery;

class Membership {
 public:
  Membership(SchedulerCore& core, Recovery& recovery) : core_(core), st_(core.st), recovery_(recovery) {}
  Membership(const Membership&) = delete;
  Membership& operator=(const Membership&) = delete;

  // A PS or worker joins: places it (a free or named shard, a new worker
  // rank) and answers with its rank. The job itself follows later
  // (StartJobIfFormed, SendToNewcomers). Refusals go in the answer's status:
  // kInvalidArgument (not a PS or worker, bad shard id, PS without endpoint),
  // kFailedPrecondition (the job ended, or a PS names a shard whose PS is
  // alive), kAlreadyExists / kResourceExhausted (no place for it),
  // kUnavailable (whether the named shard's PS is gone cannot be told).
  void Register(const RegisterCall& call, const std::string& identity,
                proto::RegisterResponse::Builder resp);
  // Records a node's heartbeat and fills the answer with the job's desired
  // state (for a PS: the directive, see FillDirective). kNotFound for an
  // unknown node. Returns false when the answer need not be sent: a worker
  // whose answer would repeat its last one, sent less than
  // options.heartbeat_answer_interval ago.
  bool Heartbeat(const HeartbeatCall& call, proto::HeartbeatResponse::Builder resp);
  // A node leaves on purpose. kNotFound for an unknown node.
  Status Leave(const LeaveCall& call);
  // `pstrain scale`: the number of workers the job should have; surplus
  // workers (newest first) are asked to leave.
  void Scale(const ScaleCall& call, proto::ScaleResponse::Builder resp);

  // Forming: once every PS and worker registered, sends everyone the job
  // and starts it; fails the job if that takes longer than form_timeout.
  void StartJobIfFormed(Clock::time_point now, uint64_t total_keys);
  // After each batch of requests: rolls back for PS that left or were
  // replaced, and sends the job to the nodes that joined the running job.
  void SendToNewcomers();
  // Heartbeat bookkeeping: suspect after 3 missed beats, dead after the
  // timeout (a dead worker is let go, a dead PS starts a rollback). Returns
  // true when every registered node is gone.
  bool SweepHeartbeats(Clock::time_point now);
  // The heartbeat interval nodes are told to use: options.heartbeat_interval,
  // lengthened so that the job's nodes send at most
  // options.max_heartbeats_per_second (see SchedulerOptions).
  std::chrono::milliseconds HeartbeatInterval() const;
  // Returns the leases of removed workers once every PS stopped waiting for them.
  void ProgressRemovals();
  // Moves a joining worker's start clock when a PS is already past it.
  void AdmitWorkers();
  // Sends a changed directive to every PS at once rather than with its next
  // heartbeat answer. Runs every tick, so it walks the roster only when
  // SchedulerState::roster_changed says it may have changed, or when
  // rehash_roster (every sweep, which catches a change nobody flagged).
  void PushDirective(bool rehash_roster);

  // The PS stop waiting for worker n; its lease goes back to the pool once
  // every PS has said how many clocks it completed (ProgressRemovals).
  void StopWaitingFor(NodeInfo& n);
  // True once every live PS waits for worker n from its from_clock.
  bool Admitted(const NodeInfo& n) const;
  size_t CountServers() const;

 private:
  // Places a PS (forming: a free or the named shard; running: a replacement).
  // Returns null with *s set when there is no place for it.
  NodeInfo* PlaceServer(const RegisterCall& call, Status* s);
  // A new PS names the shard of a PS not declared dead: OK (and the old one
  // marked dead) when the old one no longer answers at its endpoint;
  // kFailedPrecondition when it does (a live PS is never replaced);
  // kUnavailable when that cannot be told in time. Blocks for at most
  // options.replacement_probe_timeout.
  Status CheckReplaceable(NodeInfo& old);
  // Sends the job to node n: the spec, the servers, where training starts
  // and (for a PS) which workers to wait for.
  Status SendJobStart(const NodeInfo& n);
  // What every PS should converge to (see proto HeartbeatResponse).
  void FillDirective(proto::HeartbeatResponse::Builder resp);
  // Advances st_.directive_seq if the directive differs from the last one;
  // the roster's part is re-hashed if rehash_roster or st_.roster_changed.
  void UpdateDirectiveSeq(bool rehash_roster);
  // Records a worker's latency histograms (an invalid one is logged once).
  void TakeLatencies(const HeartbeatCall& call, NodeInfo& n);
  // Whether worker n's heartbeat gets an answer (see Heartbeat); if so,
  // remembers what it said and when.
  bool WorkerNeedsAnswer(const HeartbeatCall& call, NodeInfo& n, Clock::time_point now);

  SchedulerCore& core_;
  SchedulerState& st_;
  Recovery& recovery_;
  // PS that left a running job: the next SendToNewcomers rolls back.
  std::vector<uint32_t> servers_left_;
  // Nodes that registered while the job runs: SendToNewcomers sends them the job.
  std::vector<size_t> joiners_;         // worker indices
  std::vector<uint32_t> replacements_;  // PS ranks
  size_t live_nodes_ = 0;                // nodes alive at the last sweep
  uint64_t pushed_seq_ = 0;             // the directive last pushed to every PS
  uint64_t roster_hash_ = 0;            // the roster's part of the directive's signature
};

}  // namespace pst
