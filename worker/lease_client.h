// pst::LeaseClient: a worker's side of the scheduler's data-shard leases. It
// asks for the next lease (and decodes the answer into a LeaseAnswer, checked
// before the worker acts on it), reports finished leases, and queues the
// evaluation orders that answers carry.
//
// Under ASP/SSP (ask_ahead) the next lease is asked for when the current
// one's last step starts (AskAhead) and the answer read by the next Next(),
// so the round trip to the scheduler overlaps that step. That request cannot
// report the lease still being trained, so each lease is reported on its own
// (a report-only request) the moment it is finished, without waiting for the
// answer: its epoch closes then, and the answer (read with TakeReport a step
// or so later) may order its evaluation. Under BSP an epoch closes by clock,
// at the first request past its end, and would then be summed up without the
// lease this worker is still training (and each BSP step waits for its pull,
// which hides the round trip anyway): a BSP lease is reported with the
// request for the next one.
//
// Not thread-safe: the worker's training thread owns it. Blocking calls wait
// up to the options' timeout or until *interrupt (kCancelled).
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <deque>
#include <optional>
#include <vector>

#include "common/channel.h"
#include "common/registration.h"
#include "common/status.h"

namespace pst {

struct LeaseClientOptions {
  // This worker's rank. Required.
  uint32_t rank = 0;
  // Samples in this worker's training set (leases must lie inside it). Required.
  uint64_t num_samples = 0;
  // Ask for the next lease ahead and report each lease on its own (ASP/SSP).
  // Default: false.
  bool ask_ahead = false;
  // Longest wait for an answer. Default: 300 s.
  std::chrono::milliseconds timeout{300000};
  // Ends every wait with kCancelled when set. May be null. Default: null.
  const std::atomic<bool>* interrupt = nullptr;
};

// An evaluation the scheduler orders: the model of `version` (BSP; the
// current one under ASP/SSP), for `epoch`.
struct EvalOrder {
  uint32_t epoch = 0;
  uint64_t version = 0;
};

// A finished lease and where its time went, as reported to the scheduler.
struct LeaseReport {
  uint32_t epoch = 0;
  uint32_t shard = 0;
  double loss_sum = 0;
  uint64_t samples = 0;
  std::chrono::steady_clock::duration wait{}, compute{}, push{};
};

// The scheduler's answer to a lease request, decoded and checked.
struct LeaseAnswer {
  enum class Kind { kLease, kIdle, kWait, kRestart, kDone };
  Kind kind = Kind::kWait;
  // kLease: samples [sample_begin, sample_end) of the epoch's order,
  // inside the training set.
  uint32_t epoch = 0;
  uint32_t shard = 0;
  uint64_t sample_begin = 0;
  uint64_t sample_end = 0;
  // kIdle: push empty clocks until this clock (> the request's clock).
  uint64_t idle_until = 0;
  // kRestart: continue at resume_clock in `generation` with these servers.
  uint32_t generation = 0;
  uint64_t resume_clock = 0;
  std::vector<ServerEntry> servers;
};

class LeaseClient {
 public:
  // `scheduler` must outlive the client.
  LeaseClient(Channel& scheduler, const LeaseClientOptions& options)
      : sched_(scheduler), options_(options) {}
  LeaseClient(const LeaseClient&) = delete;
  LeaseClient& operator=(const LeaseClient&) = delete;

  // The next answer for a worker at `clock` in `generation`: the answer to the
  // request sent ahead if there is one, else a new request's (which reports
  // the finished lease not reported yet). An evaluation order in a kLease,
  // kIdle or kDone answer is queued (PopEval). Errors: the transport's
  // (kCancelled when interrupted), the scheduler's refusal, kInvalidArgument
  // for a malformed answer (wrong message, unknown kind, a lease outside the
  // training set, idling until a past clock).
  StatusOr<LeaseAnswer> Next(uint64_t clock, uint32_t generation);
  // ask_ahead only (else a no-op): asks now for the lease after the current
  // one, for a worker that will be at `clock` when it reads the answer with
  // Next(). No-op while such a request is in flight. Errors: the send's.
  Status AskAhead(uint64_t clock, uint32_t generation);
  // The lease in `report` is finished at `clock`. Without ask_ahead it is
  // reported with the next request; with it at once, report-only, after the
  // answer to the previous report has been read (one in flight at a time).
  Status Finished(const LeaseReport& report, uint64_t clock, uint32_t generation);
  // Reads the answer to the report-only request in flight, if any: at once if
  // it has arrived, or with `wait`, when it does. Errors as for Next().
  Status TakeReport(bool wait);
  bool report_in_flight() const { return report_request_ != 0; }

  // The oldest evaluation order not taken yet.
  std::optional<EvalOrder> PopEval();
  // After a rollback: drops the requests in flight, the evaluation orders and
  // the finished lease not reported yet (the scheduler ignores completions
  // reported from an older generation).
  void Reset();
  // Drops the finished lease not reported yet (a RESTART answer: one sent now
  // could be taken for a later piece of the same shard).
  void ForgetFinished() { unreported_.reset(); }

  // For the end-of-run log: requests for a lease, how many of them were sent
  // ahead, and leases reported on their own.
  uint64_t requests() const { return requests_; }
  uint64_t requests_ahead() const { return requests_ahead_; }
  uint64_t reports() const { return reports_; }

 private:
  // A ShardRequest at `clock`, carrying the unreported finished lease if any.
  void FillRequest(OutMessage& msg, uint64_t clock, uint32_t generation);
  StatusOr<LeaseAnswer> Decode(const InMessage& reply, uint64_t clock);

  Channel& sched_;
  LeaseClientOptions options_;
  std::optional<LeaseReport> unreported_;
  uint64_t ahead_request_ = 0;   // the request sent ahead; 0: none
  uint64_t report_request_ = 0;  // the report-only request in flight; 0: none
  std::deque<EvalOrder> evals_;
  uint64_t requests_ = 0, requests_ahead_ = 0, reports_ = 0;
};

}  // namespace pst
