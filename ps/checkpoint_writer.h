// pst::CheckpointWriter: runs a ParamStore's calls on a background thread, so
// a PS keeps serving pushes and pulls while a checkpoint is written.
//
// The writer owns the store. Operations are queued and run one at a time, in
// the order they were queued, on the writer's one thread; each finished
// operation leaves a Result that Poll() hands back. The synchronous calls
// (ListCommitted, ListUncommitted, ReadCheckpoint, ReadWrittenCheckpoint) are
// queued the same way and wait for their turn, so they see the effect of
// every operation queued before them, and the store is never used by two
// threads.
//
// Typical use on the PS, at a clock boundary: capture the shard's blocks
// (ps/live_capture.h), queue Write(manifest, blocks) (training goes on at
// once), report Write's Result to the scheduler when Poll() returns it, then
// queue Commit(id) (or Delete(id) if the round is aborted) and Prune(keep).
//
// Memory: each queued Write holds its blocks until it has run (a live
// capture: the blocks copied before the writer read them). The writer
// does not bound the queue; callers keep at most one Write in flight (see
// queued()).
//
// Thread-safety: thread-safe; any thread may queue operations, poll or call
// the synchronous methods (operations queued concurrently run in the order
// the calls took the internal lock). No callbacks. Nothing throws.
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <thread>
#include <utility>
#include <vector>

#include "common/mutex.h"
#include "common/status.h"
#include "ps/param_store.h"

namespace pst {

class CheckpointWriter {
 public:
  // The outcome of one queued operation.
  struct Result {
    enum class Op : uint8_t { kWrite, kCommit, kDelete, kPrune };
    Op op = Op::kWrite;
    // The checkpoint id of kWrite / kCommit / kDelete; for kPrune, `keep`.
    uint64_t id = 0;
    // What the ParamStore call returned (see ps/param_store.h), e.g.
    // kAlreadyExists for a Write of an id written before.
    Status status;
    // Time the store call took (excluding time in the queue), ms.
    double duration_ms = 0;
    // When the operation finished (kWrite only).
    std::chrono::steady_clock::time_point finished;
  };

  // Starts the writer thread, which takes ownership of `store`.
  // kInvalidArgument if store is null; kResourceExhausted if the thread
  // cannot be started.
  static StatusOr<std::unique_ptr<CheckpointWriter>> Start(std::unique_ptr<ParamStore> store);

  // Runs every operation still queued (their Results are dropped), then joins
  // the thread and destroys the store. Blocks until then.
  ~CheckpointWriter();
  CheckpointWriter(const CheckpointWriter&) = delete;
  CheckpointWriter& operator=(const CheckpointWriter&) = delete;

  // Queue ParamStore::WriteCheckpoint(m, blocks), CommitCheckpoint(id),
  // DeleteCheckpoint(id) and Prune(keep). Return at once.
  // (`sparse`: the rows of m.sparse_tables, see ParamStore::WriteCheckpoint.)
  void Write(CheckpointManifest m, std::vector<BlockState> blocks,
             std::vector<SparseRowsDelta> sparse = {});
  // The same with blocks read from `blocks` (e.g. a pst::LiveCapture) while
  // the write runs; the writer Closes it when the write is done.
  void Write(CheckpointManifest m, std::shared_ptr<BlockSource> blocks,
             std::vector<SparseRowsDelta> sparse = {});
  void Commit(uint64_t checkpoint_id);
  void Delete(uint64_t checkpoint_id);
  void Prune(size_t keep);

  // The Results of the operations finished since the last Poll, in the order
  // they ran. Never blocks (beyond the internal lock).
  std::vector<Result> Poll() EXCLUDES(mu_);

  // Waits until every operation queued before the call has finished (their
  // Results are left for Poll). OK, or kDeadlineExceeded after `timeout`.
  Status Drain(std::chrono::milliseconds timeout) EXCLUDES(mu_);

  // Operations queued or running (Write/Commit/Delete/Prune and synchronous
  // calls), i.e. not yet finished.
  size_t queued() const EXCLUDES(mu_);

  // Synchronous calls: wait for every operation queued before them, then run
  // the ParamStore call of the same name on the writer thread and return its
  // result. They block for as long as the queue ahead of them takes.
  StatusOr<std::vector<uint64_t>> ListCommitted();
  StatusOr<std::vector<uint64_t>> ListUncommitted();
  StatusOr<std::pair<CheckpointManifest, std::vector<BlockState>>> ReadCheckpoint(
      uint64_t checkpoint_id);
  StatusOr<std::pair<CheckpointManifest, std::vector<BlockState>>> ReadWrittenCheckpoint(
      uint64_t checkpoint_id);
  // ParamStore::ReadSparseChain; fn runs on the writer thread while the
  // caller waits, so it may touch what the caller owns.
  Status ReadSparseChain(uint64_t checkpoint_id, bool require_commit, const SparseChainFn& fn);

 private:
  // A queued operation: runs on the writer thread and returns a Result to
  // report, or nothing (synchronous calls hand their result back themselves).
  struct Task {
    std::function<std::optional<Result>(ParamStore&)> run;
  };

  explicit CheckpointWriter(std::unique_ptr<ParamStore> store);
  void Enqueue(std::function<std::optional<Result>(ParamStore&)> run) EXCLUDES(mu_);
  // Queues `fn` and blocks until the writer thread has run it.
  template <typename T>
  T Call(std::function<T(ParamStore&)> fn) EXCLUDES(mu_);
  void Loop() EXCLUDES(mu_);

  std::unique_ptr<ParamStore> store_;  // used only on thread_
  mutable Mutex mu_;
  CondVar work_cv_;  // a task was queued, or stop_
  CondVar done_cv_;  // a task finished
  std::deque<Task> queue_ GUARDED_BY(mu_);
  std::vector<Result> results_ GUARDED_BY(mu_);
  uint64_t queued_total_ GUARDED_BY(mu_) = 0;    // tasks ever queued
  uint64_t finished_total_ GUARDED_BY(mu_) = 0;  // tasks ever finished
  bool stop_ GUARDED_BY(mu_) = false;
  std::thread thread_;
};

}  // namespace pst
