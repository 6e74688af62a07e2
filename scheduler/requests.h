// The requests the scheduler answers, decoded into plain values before any
// state changes (DecodeRequest): a malformed message is refused whole, never
// half applied. Pure functions; thread-compatible; nothing here throws.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <variant>

#include "common/latency_histogram.h"
#include "common/client_table.h"
#include "common/sparse_table_report.h"
#include "common/status.h"
#include "proto/envelope.capnp.h"
#include "proto/scheduler.capnp.h"

namespace pst {

struct RegisterCall {
  proto::Role role = proto::Role::CLIENT;
  std::string endpoint;  // PS: where workers reach it
  std::string host;
  uint32_t pid = 0;
  int32_t shard_id = -1;  // PS: the shard it asks for; -1: any free one
};

struct HeartbeatCall {
  proto::Role role = proto::Role::CLIENT;
  uint32_t rank = 0;
  uint64_t clock = 0;
  uint64_t samples = 0;
  double loss_sum = 0;
  uint64_t steps = 0;
  uint64_t max_staleness = 0;
  uint32_t generation = 0;
  // PS only.
  uint64_t checkpoint_written = 0;
  uint64_t checkpoint_failed = 0;
  std::string checkpoint_error;
  std::string restore_error;
  std::map<uint32_t, uint64_t> waits_for;  // worker rank -> from clock
  std::map<uint32_t, uint64_t> removed;    // worker rank -> completed clocks
  LimitRefusals refusals;                  // requests it refused by each limit
  std::vector<SparseTableReport> sparse_tables;
  // Worker only: its latency histograms; nullopt when it sent none, an error
  // when the one it sent is invalid (ignored and logged, not refused).
  std::optional<StatusOr<LatencyHistogram>> pull_latency;
  std::optional<StatusOr<LatencyHistogram>> push_latency;
};

struct ShardCall {
  uint32_t rank = 0;
  uint64_t clock = 0;
  uint32_t generation = 0;
  uint64_t num_samples = 0;
  bool report_only = false;
  bool has_completed = false;
  uint32_t completed_epoch = 0;
  uint32_t completed_shard = 0;
  double completed_loss_sum = 0;
  double completed_wait_ms = 0;
  double completed_compute_ms = 0;
  double completed_push_ms = 0;
};

struct EvalCall {
  uint32_t rank = 0;
  uint32_t epoch = 0;
  uint64_t version = 0;
  uint64_t correct = 0;
  uint64_t total = 0;
  double loss_sum = 0;
  bool has_auc = false;  // sparse models report their test AUC too
  double auc = 0;
};

struct LeaveCall {
  proto::Role role = proto::Role::CLIENT;
  uint32_t rank = 0;
};

struct CheckpointCall {
  uint64_t timeout_ms = 0;  // 0: the default
};

struct ScaleCall {
  uint32_t workers = 0;
};

struct JobStatusCall {};

using SchedulerCall = std::variant<RegisterCall, HeartbeatCall, ShardCall, EvalCall, LeaveCall,
                                   CheckpointCall, ScaleCall, JobStatusCall>;

// Decodes the body of a request to the scheduler. kInvalidArgument for a
// malformed message (naming what is wrong) or one the scheduler does not
// handle.
StatusOr<SchedulerCall> DecodeRequest(proto::Envelope::Reader envelope);

}  // namespace pst
