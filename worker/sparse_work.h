// pst::SparseWork: the LeaseWork of a sparse model (logistic regression,
// factorization machine, embedding + MLP; worker/models/) on streamed data
// files. A lease is a range of the training file's records, opened at its
// shard's byte offset (worker/data/sparse_file_index.h). A step reads the
// batch, dedups its ids, pulls their rows from the sparse tables
// (worker/sparse_client.h: every id from the PS its slot maps to) and the
// dense tables through the PsClient, runs the model's forward and backward
// pass, and pushes the row gradients of the unique ids (repeated ids summed by
// the model) and the dense gradients.
//
// Versions: under BSP a step at clock c reads every table at version c (the
// sparse tables apply a clock once every worker pushed it; idle steps push
// empty gradients to every table). Under SSP the dense pull waits for the
// staleness bound; the sparse rows are read as they are. ASP waits for nothing.
//
// Evaluation runs on the training thread: the test file is streamed in
// batches, each batch's rows pulled (pulls create no rows) and the model's
// predictions collected; test AUC, log-loss and accuracy (at 0.5) go to the
// scheduler in an EvalReport.
//
// Not thread-safe (see LeaseWork).
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <zmq.hpp>

#include "common/channel.h"
#include "common/consistency.h"
#include "common/job_spec.h"
#include "common/slot_map.h"
#include "worker/data/sparse_file_index.h"
#include "worker/lease_work.h"
#include "worker/models/model_factory.h"
#include "worker/models/sparse_model.h"
#include "worker/sparse_client.h"

namespace pst {

struct SparseWorkOptions {
  // This worker's rank. Required.
  uint32_t rank = 0;
  // Longest wait for any answer. Default: 300 s.
  std::chrono::milliseconds timeout{300000};
  // Ends waits with kCancelled when set. May be null. Default: null.
  const std::atomic<bool>* interrupt = nullptr;
  // Which PS holds each virtual slot of the ids: the scheduler's map from
  // JobStart (JoinedJob::slot_map). Required.
  std::optional<SlotMap> slot_map;
  // Test samples per evaluation batch. Default: 4096.
  uint32_t eval_batch = 4096;
  // The cluster's keys for the sparse connections (CurveZMQ); null: plain TCP.
  // Default: null.
  std::shared_ptr<const ClusterKeys> curve;
};

class SparseWork : public LeaseWork {
 public:
  // Builds the job's model and indexes the training file (one pass). `job`,
  // `ctx` and `scheduler` must outlive the work. kInvalidArgument for model
  // settings the model refuses, kFailedPrecondition if its tables differ from
  // the job's; the index's errors (missing or malformed file).
  static StatusOr<std::unique_ptr<SparseWork>> Create(zmq::context_t& ctx, Channel& scheduler,
                                                      const JobSpec& job,
                                                      const SparseWorkOptions& options);

  uint64_t num_samples() const override { return index_.records(); }
  Status Connect(const std::vector<ServerEntry>& servers, uint32_t generation) override;
  Status BeginLease(uint32_t epoch, uint64_t begin, uint64_t end) override;
  Status Prepare(PsClient& ps, uint64_t clock) override;
  StatusOr<StepResult> Run(PsClient& ps, uint32_t rank, uint64_t clock, uint64_t pos,
                           size_t n) override;
  Status PushEmpty(PsClient& ps, uint32_t rank, uint64_t clock) override;
  void Reset() override { reader_.reset(); }
  Status Evaluate(PsClient& ps, const EvalOrder& order, uint64_t clock, uint64_t version,
                  bool final_model) override;
  Status PollEvaluation() override { return Status::OK(); }
  Status FinishEvaluation() override { return Status::OK(); }
  void DropEvaluation() override {}
  bool target_reached() const override { return target_reached_; }

 private:
  struct Table {
    std::string name;
    uint32_t dim = 0;
  };
  SparseWork(zmq::context_t& ctx, Channel& scheduler, const JobSpec& job,
             std::unique_ptr<SparseModel> model, const SparseWorkOptions& options,
             SparseFileIndex index);
  // Pulls every dense table for `clock` at `version` into `buffer`; fills
  // params->dense. Returns the time spent waiting.
  StatusOr<std::chrono::steady_clock::duration> PullDense(PsClient& ps, uint64_t clock,
                                                          uint64_t version,
                                                          std::vector<float>& buffer,
                                                          ModelParams* params);
  // Pulls the rows of ids_ from every sparse table into rows_; fills params->sparse.
  Status PullSparse(const SparseCaller& caller, uint64_t version, ModelParams* params);
  uint64_t SparseVersion(uint64_t version) const {
    return ConsistencyPolicy(job_.train).lockstep() ? version : 0;
  }
  Status Report(const EvalOrder& order, uint64_t correct, uint64_t total, double loss_sum,
                double auc);

  zmq::context_t& ctx_;
  Channel& sched_;
  const JobSpec& job_;
  std::unique_ptr<SparseModel> model_;
  SparseWorkOptions options_;
  SparseFileIndex index_;
  SparseReaderOptions reader_options_;
  std::vector<Table> sparse_;
  std::vector<uint64_t> dense_offsets_;  // per dense table, in the dense key space
  uint64_t dense_keys_ = 0;
  std::unique_ptr<SparseClient> client_;
  uint32_t generation_ = 0;
  // The lease being trained and the next record position it reads.
  std::unique_ptr<SparseReader> reader_;
  uint64_t next_pos_ = 0;
  uint32_t epoch_ = 0;
  // Step buffers.
  SparseBatch batch_;
  UniqueIds ids_;
  std::vector<std::vector<float>> rows_;
  std::vector<float> dense_params_;
  std::shared_ptr<std::vector<float>> dense_grad_;
  ModelGrads grads_;
  bool target_reached_ = false;
};

// The reader options of a job's data (format, Criteo shape, skip_bad_lines).
SparseReaderOptions SparseReaderOptionsFor(const SparseDataSpec& data);
// The model settings of a sparse job (model kind, shape of its data).
SparseModelConfig SparseModelConfigFor(const JobSpec& job);

}  // namespace pst
