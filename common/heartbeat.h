// Sends heartbeats to the scheduler from a thread of its own, so a node that is
// busy computing or blocked on a barrier still shows as alive, and reports the
// job state the scheduler answers with. Thread-safe.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include <zmq.hpp>

#include "common/cluster_keys.h"
#include "common/status.h"
#include "proto/scheduler.capnp.h"

namespace pst {

struct HeartbeaterOptions {
  // Scheduler address, e.g. "tcp://127.0.0.1:5000". Required.
  std::string scheduler_endpoint;
  // Time between heartbeats, until the scheduler's answer names another
  // (heartbeatIntervalMs; it lengthens it for large jobs). Default: 500 ms.
  std::chrono::milliseconds interval{500};
  // With no answer for this long the scheduler counts as lost. Default: 30 s.
  std::chrono::milliseconds lost_after{30000};
  // If set, made true when the scheduler reports the job done or failed, so
  // the node's blocking waits (which watch the flag) end at once. Must outlive
  // the Heartbeater. Default: none.
  std::atomic<bool>* set_on_job_end = nullptr;
  // The cluster's keys: every socket uses CurveZMQ with them (see
  // common/cluster_keys.h). Null: plain TCP. Default: null.
  std::shared_ptr<const ClusterKeys> curve;
};

class Heartbeater {
 public:
  // Fills the node-specific fields (role, rank, progress) of each heartbeat.
  // Called on the heartbeat thread; must only read thread-safe state.
  using FillFn = std::function<void(proto::HeartbeatRequest::Builder)>;
  // Sees every answer (the scheduler's desired state: generation, checkpoint
  // round, roster, ...). Called on the heartbeat thread; must not block.
  using ReplyFn = std::function<void(proto::HeartbeatResponse::Reader)>;

  // Starts the thread. kInvalidArgument for a bad endpoint.
  static StatusOr<std::unique_ptr<Heartbeater>> Start(zmq::context_t& ctx,
                                                      const HeartbeaterOptions& options,
                                                      FillFn fill, ReplyFn on_reply = nullptr);
  ~Heartbeater();  // stops and joins the thread
  Heartbeater(const Heartbeater&) = delete;
  Heartbeater& operator=(const Heartbeater&) = delete;

  // Last job state the scheduler reported (kForming until the first answer).
  proto::JobState job_state() const { return state_.load(); }
  // True once the scheduler has not answered for options.lost_after.
  bool lost_contact() const { return lost_.load(); }
  // Sends the next heartbeat now (within a few ms) instead of at the next
  // interval, e.g. when the node has news the scheduler is waiting for.
  void Poke() { poke_ = true; }

 private:
  Heartbeater(HeartbeaterOptions options, FillFn fill, ReplyFn on_reply)
      : options_(std::move(options)), fill_(std::move(fill)), on_reply_(std::move(on_reply)) {}
  void Loop(zmq::context_t* ctx);

  HeartbeaterOptions options_;
  FillFn fill_;
  ReplyFn on_reply_;
  std::atomic<proto::JobState> state_{proto::JobState::FORMING};
  std::atomic<bool> lost_{false};
  std::atomic<bool> stop_{false};
  std::atomic<bool> poke_{false};
  std::thread thread_;
};

}  // namespace pst
