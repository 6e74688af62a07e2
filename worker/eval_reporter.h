// pst::EvalReporter: runs the evaluations the scheduler orders on a
// BackgroundEvaluator (so training goes on meanwhile), and reports each
// result to the scheduler (an EvalReport) once it has finished. The
// evaluation that reaches the job's target accuracy, or the final one, also
// saves its model when a path is set.
//
// Not thread-safe: the worker's training thread owns it (the evaluator's own
// thread only computes). Reports wait up to the options' timeout or until
// *interrupt (kCancelled).
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

#include "common/channel.h"
#include "common/job_spec.h"
#include "common/status.h"
#include "worker/background_evaluator.h"
#include "worker/dataset.h"
#include "worker/lease_client.h"

namespace pst {

struct EvalReporterOptions {
  // This worker's rank (in reports). Required.
  uint32_t rank = 0;
  // The job's model (to evaluate and to save). Required.
  ModelSpec model;
  // The job stops once an evaluation reaches this accuracy (0 = never).
  // Default: 0.
  float target_accuracy = 0;
  // Where the final model is saved (safetensors); "" = not saved. Default: "".
  std::string model_out;
  // Longest wait for the scheduler's acknowledgement. Default: 300 s.
  std::chrono::milliseconds timeout{300000};
  // Ends every wait with kCancelled when set. May be null. Default: null.
  const std::atomic<bool>* interrupt = nullptr;
  // A model of more than this many bytes (float32) is evaluated on the
  // caller's values in place while Start waits, instead of on a copy in the
  // background: training pauses for the evaluation, but the worker holds no
  // second model. Default: 64 MiB (16M parameters).
  uint64_t max_copy_bytes = uint64_t{64} << 20;
};

class EvalReporter {
 public:
  // `test` and `scheduler` must outlive the reporter. Create before pinning
  // the training thread: evaluations then run on the process's other CPUs.
  // kInvalidArgument for a bad model spec.
  static StatusOr<std::unique_ptr<EvalReporter>> Create(const Dataset& test, Channel& scheduler,
                                                        const EvalReporterOptions& options);
  EvalReporter(const EvalReporter&) = delete;
  EvalReporter& operator=(const EvalReporter&) = delete;

  // Starts evaluating `params` (the model the order names; copied at once)
  // for `order`. REQUIRES: no evaluation under way (call Finish first). With
  // final_model, or a model over options.max_copy_bytes, evaluates `params`
  // in place instead, waits for it and reports it (and with final_model
  // saves the model).
  // Errors: the report's (the scheduler's refusal, transport), the save's.
  Status Start(const EvalOrder& order, const float* params, bool final_model);
  // Reports the evaluation that has finished, if any, without waiting.
  Status Poll();
  // Waits for the evaluation under way, if any, and reports it.
  Status Finish();
  // Waits for the evaluation under way and drops it (after a rollback, its
  // model is discarded).
  void Drop() { evaluator_->Wait(); }
  // An evaluation of ours reached the target accuracy: the scheduler ends
  // the job on its report.
  bool target_reached() const { return target_reached_; }

 private:
  EvalReporter(const Dataset& test, Channel& scheduler, const EvalReporterOptions& options,
               std::unique_ptr<BackgroundEvaluator> evaluator)
      : test_(test), sched_(scheduler), options_(options), evaluator_(std::move(evaluator)) {}
  // Logs and reports a finished evaluation; with final_model (or when it
  // reaches the target accuracy) saves its model.
  Status Report(const BackgroundEvaluator::Result& ev, bool final_model);

  const Dataset& test_;
  Channel& sched_;
  EvalReporterOptions options_;
  std::unique_ptr<BackgroundEvaluator> evaluator_;
  bool target_reached_ = false;
};

}  // namespace pst
