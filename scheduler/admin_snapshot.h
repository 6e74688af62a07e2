// What the scheduler's admin endpoint shows: a plain copy of the job's state
// (AdminSnapshot), and its renderings as JSON (/status) and as Prometheus text
// (/metrics). The scheduler's Run loop fills a snapshot and hands it to the
// admin server thread (scheduler/admin_server.h); `pstrain status` builds one
// from a JobStatusResponse and renders the same JSON. Plain values: the
// functions here are pure and thread-compatible.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "common/client_table.h"
#include "common/latency_histogram.h"
#include "common/sparse_table_report.h"
#include "common/status.h"
#include "proto/scheduler.capnp.h"

namespace pst {

struct AdminNode {
  std::string role;  // "ps" or "worker"
  uint32_t rank = 0;
  std::string endpoint;  // where peers reach it ("" for workers)
  std::string host;
  uint32_t pid = 0;
  std::string state;     // "alive", "suspect", "dead", "left"
  uint64_t clock = 0;    // worker: next clock to compute; PS: model version
  uint64_t samples = 0;  // worker: samples trained so far (cumulative)
  double loss_sum = 0;   // worker: sum of per-sample training losses so far
  uint64_t steps = 0;
  // Training speed from the last heartbeats (worker), 0 when idle.
  double samples_per_second = 0;
  uint64_t heartbeat_age_ms = 0;  // time since the last heartbeat
  // Largest staleness observed (worker) or served (PS): a puller's clock minus
  // the clocks every live worker had pushed. 0 under BSP; at most the bound under SSP.
  uint64_t max_staleness = 0;
  // Worker: its round-trip latencies so far (see worker/ps_client.h): pull, a
  // block's PullRequest sent -> answer received; push, a gradient block's
  // PushRequest sent -> ack received. Only on /metrics; empty from SnapshotFromProto.
  LatencyHistogram pull_latency{};
  LatencyHistogram push_latency{};
  // PS: its sparse tables (rows, memory, admission, eviction).
  std::vector<SparseTableReport> sparse_tables{};
  // PS: requests it refused by each limit, connections its CURVE server
  // refused. Only on /metrics.
  LimitRefusals refusals;
};

// A complete (committed) checkpoint.
struct AdminCheckpoint {
  uint64_t id = 0;
  uint64_t clock = 0;       // the clock boundary it holds the model at
  uint32_t generation = 0;  // the generation it was taken in
  double duration_ms = 0;   // from the round's start to every PS having written it
  int64_t unix_ms = 0;      // wall-clock time it completed
};

// A rollback to a checkpoint (a PS died, the scheduler restarted, ...).
struct AdminRollback {
  uint32_t generation = 0;     // the generation it started
  uint64_t checkpoint_id = 0;  // restored from (0: the initial model)
  uint64_t clock = 0;          // training resumed at this clock
  uint64_t lost_clocks = 0;    // clocks redone: the furthest worker clock - clock
  std::string reason;
  uint64_t start_ms = 0;  // training time at which it started
  uint64_t end_ms = 0;    // when every PS had restored (0: still recovering)
};

struct AdminEpoch {
  uint32_t epoch = 0;  // 1-based
  uint64_t samples = 0;
  double train_loss = 0;  // mean over the epoch's samples so far
  bool evaluated = false;
  double test_accuracy = 0;
  double test_loss = 0;
  bool has_auc = false;  // sparse models: test AUC
  double test_auc = 0;
  uint64_t test_correct = 0;
  uint64_t test_total = 0;
  uint64_t start_ms = 0;  // training time at which the epoch started
  uint64_t end_ms = 0;    // 0 while it runs
  // Workers' time in the epoch's finished leases, summed over workers: waiting
  // for pulls (including BSP/SSP barriers), computing, sending pushes.
  double wait_ms = 0;
  double compute_ms = 0;
  double push_ms = 0;
};

// One point of the live training curve, sampled about once a second.
struct AdminHistoryPoint {
  double elapsed_s = 0;  // training time
  double loss = 0;       // mean training loss of the samples since the previous point
  double samples_per_second = 0;
};

struct AdminSnapshot {
  // "forming", "running", "recovering", "done", "failed"
  std::string job_state = "forming";
  std::string failure;  // why the job failed, when it did
  // What the job waits for when it cannot go on by itself ("" otherwise),
  // e.g. "waiting for a worker: the evaluation of epoch 2 has no live worker".
  std::string waiting_for;
  std::string scheduler_endpoint;
  std::string admin_url;
  uint32_t expected_servers = 0;
  uint32_t expected_workers = 0;
  std::string model;  // e.g. "784-128-10"
  std::string optimizer;
  std::string consistency;
  uint32_t total_epochs = 0;
  uint64_t samples_per_epoch = 0;  // 0 until training starts
  uint64_t elapsed_ms = 0;         // training time: first shard lease to the job's end
  uint64_t uptime_ms = 0;          // since the scheduler started
  std::vector<AdminNode> nodes;    // PS by rank, then workers by rank
  std::vector<AdminEpoch> epochs;  // every epoch of the job (started or not)
  std::vector<AdminHistoryPoint> history;
  int64_t unix_ms = 0;                       // wall-clock time the snapshot was taken (0: unknown)
  uint32_t generation = 0;                   // bumped by every rollback
  uint32_t desired_workers = 0;              // workers the job should have (pstrain scale)
  std::vector<AdminCheckpoint> checkpoints;  // complete checkpoints, oldest first
  std::vector<AdminRollback> rollbacks;      // oldest first
  // Requests the scheduler refused by each limit, and connections its CURVE
  // server refused (0 for a plain job). Only on /metrics.
  LimitRefusals scheduler_refusals;

  // Epochs whose evaluation is in.
  uint32_t EpochsCompleted() const;
  // Training samples finished so far (over epochs).
  uint64_t SamplesDone() const;
  // Sum of the workers' samples/s.
  double SamplesPerSecond() const;
  // Clocks redone over all rollbacks.
  uint64_t RedoneClocks() const;
};

// "ps", "worker", ...; "alive", ...; "running", ...
const char* AdminRoleName(proto::Role role);
const char* AdminNodeStateName(proto::NodeState state);
const char* AdminJobStateName(proto::JobState state);

// The /status document (see README "Admin endpoint"). Never throws.
std::string RenderStatusJson(const AdminSnapshot& s, int indent = -1);

// The /metrics page, Prometheus text exposition format 0.0.4.
std::string RenderPrometheus(const AdminSnapshot& s);

// A snapshot from a JobStatusResponse, taken now (unix_ms is the current
// time); history and the latency histograms stay empty.
// kInvalidArgument if the message is malformed.
StatusOr<AdminSnapshot> SnapshotFromProto(proto::JobStatusResponse::Reader r);

}  // namespace pst
