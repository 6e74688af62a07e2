// pst::SchedulerCore: what the parts of the scheduler share (scheduler/
// membership.h, lease_service.h, recovery.h, checkpoint_rounds.h,
// job_status.h): the options, the job state, the socket they answer on, the
// key ranges of the PS, and the few actions every part may take (fail the
// job, save the state, send a message to a node). Owned by pst::Scheduler and
// touched only by its Run() thread; not thread-safe.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <zmq.hpp>

#include "common/key_range.h"
#include "common/slot_map.h"
#include "common/wire.h"
#include "scheduler/scheduler_options.h"
#include "scheduler/scheduler_state.h"

namespace pst {

class SchedulerCore {
 public:
  SchedulerCore(SchedulerOptions& options, SchedulerState& st, zmq::socket_t& socket,
                std::string endpoint)
      : options(options), st(st), socket(socket), endpoint(std::move(endpoint)) {}
  SchedulerCore(const SchedulerCore&) = delete;
  SchedulerCore& operator=(const SchedulerCore&) = delete;

  // Fails the job (no-op once it is over): logs why, which JobStatus and
  // /status then show.
  void Fail(std::string why);
  // Saves the job state to the store (no-op without one); sync makes it
  // durable before returning.
  void SaveState(bool sync);
  // Sends msg to the node whose ROUTER identity is `identity`. Best effort:
  // the peer may be gone, and every message that matters is repeated or
  // answered again (heartbeats, requests retried).
  void SendTo(const std::string& identity, OutMessage& msg);
  // The largest clock the live nodes of this generation reported (at least
  // the resume clock): worker clocks, and PS versions under BSP (under ASP and
  // SSP only workers count clocks). Checkpoint rounds and joining workers are
  // placed ahead of it.
  uint64_t FastestClock() const;

  SchedulerOptions& options;  // the job may be replaced by a stored one (Recovery::OpenStore)
  SchedulerState& st;
  zmq::socket_t& socket;
  const std::string endpoint;
  std::vector<KeyRange> ranges;  // PS rank -> its keys; set once the job is known
  // Sparse jobs: which PS holds each virtual slot of the sparse tables' ids;
  // set once the job is known and sent with JobStart to every node.
  std::optional<SlotMap> slot_map;
};

// "PS 0 (pid 123 on host)", for log lines and errors.
std::string Describe(const NodeInfo& n);

// The workers in the roster (those the PS wait for), as JobStart and the
// directive carry them.
size_t CountRoster(const SchedulerState& st);
void FillRoster(const SchedulerState& st, capnp::List<proto::WorkerSlot>::Builder list);
// Every PS with its endpoint and keys. REQUIRES: ranges.size() >= st.servers.size().
void FillServerList(const SchedulerState& st, const std::vector<KeyRange>& ranges,
                    capnp::List<proto::ServerInfo>::Builder list);

}  // namespace pst
