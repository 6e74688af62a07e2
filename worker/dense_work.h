// pst::DenseWork: the LeaseWork of the MLP: samples of the in-memory
// Fashion-MNIST training set in each epoch's shuffled order
// (worker/epoch_order.h), trained by a TrainStep and evaluated on a
// background thread by an EvalReporter. Owns the datasets, the model, the
// step and the reporter. Not thread-safe (see LeaseWork).
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "common/channel.h"
#include "common/job_spec.h"
#include "worker/dataset.h"
#include "worker/eval_reporter.h"
#include "worker/lease_work.h"
#include "worker/mlp.h"
#include "worker/train_step.h"
#include "worker/worker_options.h"

namespace pst {

class DenseWork : public LeaseWork {
 public:
  // Loads the training and test sets (from options.data_dir, or job.data_dir)
  // and builds the model, step and reporter for worker `rank`. `job` and
  // `scheduler` must outlive the work. Create it before the training thread is
  // pinned: evaluations then run on the process's other CPUs. Errors: the
  // data's (missing files, a shape the model does not take), a model whose
  // tables differ from the job's (kFailedPrecondition).
  static StatusOr<std::unique_ptr<DenseWork>> Create(const JobSpec& job, uint32_t rank,
                                                     Channel& scheduler,
                                                     const WorkerOptions& options,
                                                     const std::atomic<bool>* interrupt);

  uint64_t num_samples() const override { return train_.num_samples; }
  Status Connect(const std::vector<ServerEntry>&, uint32_t) override { return Status::OK(); }
  Status BeginLease(uint32_t epoch, uint64_t begin, uint64_t end) override;
  Status Prepare(PsClient& ps, uint64_t clock) override { return step_->Prepare(ps, clock); }
  StatusOr<StepResult> Run(PsClient& ps, uint32_t rank, uint64_t clock, uint64_t pos,
                           size_t n) override;
  Status PushEmpty(PsClient& ps, uint32_t rank, uint64_t clock) override;
  void Reset() override { step_->Reset(); }
  Status Evaluate(PsClient& ps, const EvalOrder& order, uint64_t clock, uint64_t version,
                  bool final_model) override;
  Status PollEvaluation() override { return reporter_->Poll(); }
  Status FinishEvaluation() override { return reporter_->Finish(); }
  void DropEvaluation() override { reporter_->Drop(); }
  bool target_reached() const override { return reporter_->target_reached(); }

 private:
  DenseWork(Dataset train, Dataset test, uint64_t seed, std::unique_ptr<Mlp> mlp)
      : train_(std::move(train)), test_(std::move(test)), seed_(seed), mlp_(std::move(mlp)) {}

  const Dataset train_;
  const Dataset test_;
  uint64_t seed_;
  std::unique_ptr<Mlp> mlp_;
  std::unique_ptr<TrainStep> step_;
  std::unique_ptr<EvalReporter> reporter_;
  std::vector<uint32_t> order_;  // the epoch order of order_epoch_
  uint32_t order_epoch_ = UINT32_MAX;
};

}  // namespace pst
