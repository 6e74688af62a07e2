// pst::TrainStep: one worker's training step, pipelined with the parameter
// servers: pull the model for the step's clock, run the model's forward and
// backward pass on a batch while the pulled blocks arrive, push each gradient
// block as soon as the pass has finished it (with the pull of the block for a
// later step riding on the push), and start the next step's pull.
//
// It owns the worker's model buffers: one parameter buffer per clock parity
// (two with prefetch, else one), the gradient buffers and the batch. Pulled
// values are copied into a parameter buffer as soon as they may be: the
// step's own pull's blocks before the pass reads them, the next step's into
// the same buffer once the pass is done reading those keys (the first
// layer's weights right after the forward pass has applied them), and with
// prefetch the next step's into the other buffer at any time; so a large
// model's answers are not held as received frames on top of the buffers
// (TrainStepOptions::early_copy_min_bytes). Step t's
// gradient blocks are sent zero-copy and may still be in flight when step t+1
// starts, but a pass writes no gradient before it has waited for all its
// parameters (ModelHooks::wait_params), and those answered step t's pushes
// (which carried the pulls, or were sent before them on the same
// connections): one gradient buffer does. With prefetch step t+1's
// parameters answer step t-1's pushes, so steps take turns with two. Every
// call is given its clock; the step remembers only which clock's pull its
// buffer holds complete (after PulledModel).
//
// Not thread-safe: the worker's training thread owns it. The PsClient passed
// to a call may differ from the previous call's after Reset() (a rollback).
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <vector>

#include "common/job_spec.h"
#include "common/key_range.h"
#include "common/status.h"
#include "worker/dataset.h"
#include "worker/model.h"
#include "common/consistency.h"
#include "worker/ps_client.h"

namespace pst {

struct TrainStepOptions {
  // Consistency and staleness (which version a pull waits for; SSP with a
  // bound >= 1 prefetches), batch size and block size (BlockKeys). Required.
  TrainSpec train;
  // Gradient clipping threshold (OptimizerSpec::clip_norm; 0 = off). With
  // clipping every block is pushed after the pass. Default: 0.
  float clip_norm = 0;
  // Longest wait for a pull. Default: 300 s.
  std::chrono::milliseconds timeout{300000};
  // Ends every wait with kCancelled when set. May be null. Default: null.
  const std::atomic<bool>* interrupt = nullptr;
  // Pulled values are taken into the buffers during the pass (see above)
  // only for a model of at least this many bytes (float32): a small model's
  // answers cost little memory to hold until the next pass, and its steps
  // are short enough that looking for them costs. Default: 64 MiB.
  uint64_t early_copy_min_bytes = uint64_t{64} << 20;
};

// What one step did and where its time went.
struct StepResult {
  double loss_sum = 0;                            // over the batch's samples
  std::chrono::steady_clock::duration waited{};   // waiting for pulled values
  std::chrono::steady_clock::duration pushing{};  // sending pushes
  std::chrono::steady_clock::duration total{};    // from Prepare to the end of Run
};

class TrainStep {
 public:
  // `model` must outlive the step. kInvalidArgument for a bad train spec.
  static StatusOr<std::unique_ptr<TrainStep>> Create(Model& model, const TrainStepOptions& options);
  TrainStep(const TrainStep&) = delete;
  TrainStep& operator=(const TrainStep&) = delete;

  // Starts a step at `clock`: makes sure its pull (and with prefetch the next
  // clock's) is under way, asking only for what is not asked for yet, and
  // takes the push acknowledgements that have arrived (a refused push fails
  // here). Errors: the first send or push failure.
  Status Prepare(PsClient& ps, uint64_t clock);

  // Runs the step Prepare(ps, clock) started for worker `rank` on samples
  // data[ids[0..n)] (at `data_order`, see PushSpec) and leaves the pull for
  // clock + 1 under way.
  // kFailedPrecondition unless Prepare(ps, clock) came last; kInvalidArgument
  // unless 1 <= n <= batch size; otherwise the first failure of a pull, push
  // or the model (kCancelled when interrupted, kAborted when a server is of
  // another generation).
  StatusOr<StepResult> Run(PsClient& ps, uint32_t rank, uint64_t clock, const Dataset& data,
                           const uint32_t* ids, size_t n, uint64_t data_order = 0);

  // The whole model pulled for `clock` at version >= min_version (waits for
  // it): what an evaluation at `clock` reads. Reuses the pull complete for
  // `clock` if there is one. Valid until the next call on this step.
  StatusOr<const float*> PulledModel(PsClient& ps, uint64_t clock, uint64_t min_version);

  // Forgets which pull is complete (after a rollback: the servers, and
  // their PsClient, are new).
  void Reset() {
    complete_clock_ = kNone;
    prepared_clock_ = kNone;
  }

 private:
  static constexpr uint64_t kNone = UINT64_MAX;
  TrainStep(Model& model, const TrainStepOptions& options);
  float* buffer(uint64_t clock) { return params_[prefetch_ ? clock % 2 : 0].get(); }
  PullTarget TargetFor(uint64_t clock) {
    return {buffer(clock), clock, ConsistencyPolicy(options_.train).PullVersion(clock)};
  }
  // What the pass reads: the pull's buffer, or its answer in place when pull
  // views are on (one block: nothing to overlap, so it waits for it here).
  StatusOr<const float*> PassInput(PsClient& ps, uint64_t clock, StepResult* result);
  void FillBatch(const Dataset& data, const uint32_t* ids, size_t n);
  // Adds `keys` to freed_ (merging neighbours).
  void NoteFreed(KeyRange keys);
  // Copies the pulled values that have arrived into the buffers wherever
  // they may land now (see Run), so that a large model's answers do not
  // wait as received frames until the next pass needs them.
  Status TakeArrived(PsClient& ps, uint64_t clock, const PullTarget& then_pull);

  Model& model_;
  TrainStepOptions options_;
  bool prefetch_;
  bool early_copy_;  // see TrainStepOptions::early_copy_min_bytes
  ModelHooks hooks_;
  // Not zeroed: pulls and passes write them before they are read, and a
  // large model's pages are then touched only as they are first used.
  std::unique_ptr<float[]> params_[2];
  std::vector<std::shared_ptr<float[]>> grads_;  // 1, or 2 with prefetch
  // The keys the current pass reads no more (ModelHooks::params_free),
  // sorted and disjoint.
  std::vector<KeyRange> freed_;
  std::vector<float> batch_x_;
  std::vector<int32_t> batch_y_;
  // The clock whose pull is complete in buffer(clock), and that pull
  // (PulledModel), or kNone.
  uint64_t complete_clock_ = kNone;
  PullHandle complete_pull_;
  // The clock Prepare was called for, its pull, and when it was called.
  uint64_t prepared_clock_ = kNone;
  PullHandle pull_;
  std::chrono::steady_clock::time_point started_{};
};

}  // namespace pst
