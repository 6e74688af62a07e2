// pst::BackgroundEvaluator: evaluates a model snapshot on the test set on a
// thread of its own, so a worker keeps training while an epoch's evaluation
// runs (TensorFlow's "sidecar evaluator", inside the worker process).
//
// One evaluation at a time: Submit() copies the parameters (the caller may
// overwrite or free them at once; the copy, one model's worth of memory, is
// made at the first copying Submit and kept for the next) or, when asked to
// (Snapshot::kBorrow), reads the caller's values in place, and returns; the
// result is picked up with TakeResult() (never blocks) or Wait(). The values of
// the last evaluation stay readable through params() until the next Submit
// (borrowed ones as long as the caller keeps them), e.g. to save the model
// that reached a target accuracy. The thread takes the CPUs of the
// thread that creates the evaluator (create it before pinning the training
// thread, so evaluation runs beside it rather than on its CPU).
// Thread-safe for one owning thread plus the evaluator's own.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <thread>
#include <vector>

#include "common/job_spec.h"
#include "common/mutex.h"
#include "common/status.h"
#include "worker/dataset.h"
#include "worker/mlp.h"

namespace pst {

class BackgroundEvaluator {
 public:
  struct Result {
    uint32_t epoch = 0;     // as submitted
    uint64_t version = 0;   // as submitted
    Mlp::Evaluation eval;
  };

  // `test` must outlive the evaluator. kInvalidArgument for a bad model spec.
  static StatusOr<std::unique_ptr<BackgroundEvaluator>> Create(const ModelSpec& model,
                                                               const Dataset& test);
  ~BackgroundEvaluator();  // waits for an evaluation under way, then stops the thread
  BackgroundEvaluator(const BackgroundEvaluator&) = delete;
  BackgroundEvaluator& operator=(const BackgroundEvaluator&) = delete;

  // How Submit holds the values it evaluates.
  enum class Snapshot {
    kCopy,    // copied at once: the caller's buffer is free when Submit returns
    kBorrow,  // read in place: REQUIRES the caller to leave params unchanged
              // until the result is taken (Wait or TakeResult), so no copy of
              // a large model is needed when the caller waits anyway
  };
  // Starts evaluating params[0, layout total). kFailedPrecondition if an
  // evaluation is under way or its result has not been taken.
  Status Submit(uint32_t epoch, uint64_t version, const float* params,
                Snapshot snapshot = Snapshot::kCopy) EXCLUDES(mu_);
  // True from Submit until its result is taken.
  bool busy() const EXCLUDES(mu_);
  // The finished evaluation's result, once (nullopt if none has finished).
  std::optional<Result> TakeResult() EXCLUDES(mu_);
  // Blocks until the submitted evaluation finishes and takes its result
  // (nullopt if none was submitted or it was taken already).
  std::optional<Result> Wait() EXCLUDES(mu_);
  // Floats a Submit reads (the model's parameters).
  uint64_t num_params() const { return mlp_.layout().total(); }
  // The parameters of the last evaluation submitted (null before the first
  // Submit; borrowed values only while the caller keeps them). REQUIRES: !busy().
  const float* params() const { return params_; }

 private:
  BackgroundEvaluator(Mlp mlp, const Dataset& test);
  void Loop() EXCLUDES(mu_);

  Mlp mlp_;  // used by the evaluator thread only
  const Dataset& test_;
  // Written by Submit while !submitted_, read by the evaluator thread while
  // submitted_ (outside the lock, for the whole evaluation): the flag, set and
  // cleared under mu_, hands them from one to the other. params_ points at
  // copy_ or at borrowed values.
  std::vector<float> copy_;
  const float* params_ = nullptr;
  mutable Mutex mu_;
  CondVar cv_;
  bool submitted_ GUARDED_BY(mu_) = false;  // the thread has work
  bool finished_ GUARDED_BY(mu_) = false;   // result_ is ready to take
  bool stopping_ GUARDED_BY(mu_) = false;
  Result result_ GUARDED_BY(mu_);
  std::thread thread_;  // last: starts after the members above exist
};

}  // namespace pst
