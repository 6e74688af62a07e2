// A worker's heartbeats: the progress it reports (written by the training
// thread, read by the heartbeat thread) and how it follows the scheduler's
// answers (leave, rollback, job end).
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <zmq.hpp>

#include "common/cluster_keys.h"
#include "common/heartbeat.h"
#include "common/latency_histogram.h"
#include "common/mutex.h"
#include "common/status.h"

namespace pst {

// Thread-safe: atomics, and the histograms under latency_mu.
struct WorkerProgress {
  std::atomic<uint32_t> rank{0};
  std::atomic<uint64_t> clock{0};
  std::atomic<uint64_t> samples{0};
  std::atomic<uint64_t> steps{0};
  std::atomic<double> loss_sum{0};
  std::atomic<uint64_t> max_staleness{0};
  std::atomic<uint32_t> generation{0};
  // Cumulative pull and push latencies (over every PsClient of the run).
  Mutex latency_mu;
  LatencyHistogram pull_latency GUARDED_BY(latency_mu);
  LatencyHistogram push_latency GUARDED_BY(latency_mu);
};

// Starts heartbeats of a worker reporting *progress every `interval`. On the
// heartbeat thread, answers set *stop and *interrupt when the scheduler asks
// this worker to leave, and *interrupt when it announces a newer generation
// than progress->generation (a rollback) or the job's end; the job's end also
// sets *stop (ending blocked waits). All three must outlive the heartbeater.
// With `curve`, the heartbeats use CurveZMQ with the cluster's keys.
// kInvalidArgument for a bad endpoint.
StatusOr<std::unique_ptr<Heartbeater>> StartWorkerHeartbeat(
    zmq::context_t& ctx, const std::string& scheduler_endpoint, std::chrono::milliseconds interval,
    WorkerProgress* progress, std::atomic<bool>* stop, std::atomic<bool>* interrupt,
    std::shared_ptr<const ClusterKeys> curve = nullptr);

}  // namespace pst
