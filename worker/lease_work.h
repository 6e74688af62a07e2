// pst::LeaseWork: what a TrainingLoop trains: the data a lease names, the
// step that trains a batch of it against the servers, and the evaluations
// the scheduler orders. The loop (worker/training_loop.h) does the leasing,
// clocks, idling and rollbacks the same way for every kind of work:
//  - DenseWork (worker/dense_work.h): the MLP on an in-memory IDX dataset;
//  - SparseWork (worker/sparse_work.h): a sparse model on streamed files.
// Not thread-safe: the worker's training thread calls every method.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "common/registration.h"
#include "common/status.h"
#include "worker/lease_client.h"
#include "worker/ps_client.h"
#include "worker/train_step.h"

namespace pst {

class LeaseWork {
 public:
  virtual ~LeaseWork() = default;

  // Samples of the training set (what leases index): every worker's must agree.
  virtual uint64_t num_samples() const = 0;
  // The loop connected `ps` to the servers of `generation` (at the start and
  // after a rollback); work with connections of its own makes them here.
  virtual Status Connect(const std::vector<ServerEntry>& servers, uint32_t generation) = 0;
  // A lease of samples [begin, end) of `epoch`'s order starts.
  virtual Status BeginLease(uint32_t epoch, uint64_t begin, uint64_t end) = 0;
  // Starts the step at `clock` (see TrainStep::Prepare).
  virtual Status Prepare(PsClient& ps, uint64_t clock) = 0;
  // Trains the lease's samples [pos, pos + n) at `clock` as worker `rank`.
  virtual StatusOr<StepResult> Run(PsClient& ps, uint32_t rank, uint64_t clock, uint64_t pos,
                                   size_t n) = 0;
  // An idle BSP step: "nothing from this worker at this clock" to every table.
  virtual Status PushEmpty(PsClient& ps, uint32_t rank, uint64_t clock) = 0;
  // After a rollback: forget pulls and the lease in progress.
  virtual void Reset() = 0;

  // Evaluations. Starts (or runs) the evaluation `order` asks for on the
  // model of version >= `version`, the worker being at `clock`; final_model:
  // the last one (wait for it, report it, save the model if asked).
  virtual Status Evaluate(PsClient& ps, const EvalOrder& order, uint64_t clock, uint64_t version,
                          bool final_model) = 0;
  // Reports a finished evaluation, if any, without waiting.
  virtual Status PollEvaluation() = 0;
  // Waits for the evaluation under way, if any, and reports it.
  virtual Status FinishEvaluation() = 0;
  // Waits for the evaluation under way and drops it (its model is discarded).
  virtual void DropEvaluation() = 0;
  // An evaluation of ours reached the job's target: the scheduler ends the
  // job on its report.
  virtual bool target_reached() const = 0;
};

}  // namespace pst
