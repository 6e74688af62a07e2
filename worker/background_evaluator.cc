#include "worker/background_evaluator.h"

namespace pst {

StatusOr<std::unique_ptr<BackgroundEvaluator>> BackgroundEvaluator::Create(const ModelSpec& model,
                                                                           const Dataset& test) {
  PST_ASSIGN_OR_RETURN(Mlp mlp, Mlp::Create(model));
  return std::unique_ptr<BackgroundEvaluator>(new BackgroundEvaluator(std::move(mlp), test));
}

BackgroundEvaluator::BackgroundEvaluator(Mlp mlp, const Dataset& test)
    : mlp_(std::move(mlp)), test_(test) {
  thread_ = std::thread([this] { Loop(); });
}

BackgroundEvaluator::~BackgroundEvaluator() {
  {
    MutexLock lock(&mu_);
    stopping_ = true;
  }
  cv_.SignalAll();
  thread_.join();
}

Status BackgroundEvaluator::Submit(uint32_t epoch, uint64_t version, const float* params,
                                   Snapshot snapshot) {
  MutexLock lock(&mu_);
  if (submitted_ || finished_)
    return Status::FailedPrecondition("an evaluation is under way or its result was not taken");
  // The thread reads params_ only while submitted_, so it can be written
  // here. The copy is allocated at the first copying evaluation, not before:
  // a large model's worker, which borrows, never holds one.
  if (snapshot == Snapshot::kCopy) {
    copy_.assign(params, params + mlp_.layout().total());
    params = copy_.data();
  }
  params_ = params;
  result_ = Result{epoch, version, {}};
  submitted_ = true;
  cv_.SignalAll();
  return Status::OK();
}

bool BackgroundEvaluator::busy() const {
  MutexLock lock(&mu_);
  return submitted_ || finished_;
}

std::optional<BackgroundEvaluator::Result> BackgroundEvaluator::TakeResult() {
  MutexLock lock(&mu_);
  if (!finished_) return std::nullopt;
  finished_ = false;
  return result_;
}

std::optional<BackgroundEvaluator::Result> BackgroundEvaluator::Wait() {
  MutexLock lock(&mu_);
  while (submitted_) cv_.Wait(&mu_);
  if (!finished_) return std::nullopt;
  finished_ = false;
  return result_;
}

void BackgroundEvaluator::Loop() {
  MutexLock lock(&mu_);
  for (;;) {
    while (!submitted_ && !stopping_) cv_.Wait(&mu_);
    if (!submitted_) return;  // stopping with nothing to do
    mu_.Unlock();
    // Outside the lock: the owner only polls meanwhile, and Submit refuses
    // to touch params_ until the result is taken.
    const Mlp::Evaluation e =
        mlp_.Evaluate(params_, test_.features.data(), test_.labels.data(), test_.num_samples);
    mu_.Lock();
    result_.eval = e;
    submitted_ = false;
    finished_ = true;
    cv_.SignalAll();
  }
}

}  // namespace pst
