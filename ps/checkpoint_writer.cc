#include "ps/checkpoint_writer.h"

#include <system_error>

#include "ps/live_rows.h"

namespace pst {
namespace {

double MsSince(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start)
      .count();
}

}  // namespace

CheckpointWriter::CheckpointWriter(std::unique_ptr<ParamStore> store) : store_(std::move(store)) {}

StatusOr<std::unique_ptr<CheckpointWriter>> CheckpointWriter::Start(
    std::unique_ptr<ParamStore> store) {
  if (store == nullptr) return Status::InvalidArgument("checkpoint writer: null param store");
  std::unique_ptr<CheckpointWriter> writer(new CheckpointWriter(std::move(store)));
  try {
    writer->thread_ = std::thread([w = writer.get()] { w->Loop(); });
  } catch (const std::system_error& e) {
    return Status::ResourceExhausted(std::string("checkpoint writer: cannot start thread: ") +
                                     e.what());
  }
  return writer;
}

CheckpointWriter::~CheckpointWriter() {
  {
    MutexLock lock(&mu_);
    stop_ = true;
  }
  work_cv_.SignalAll();
  if (thread_.joinable()) thread_.join();
}

void CheckpointWriter::Loop() {
  MutexLock lock(&mu_);
  for (;;) {
    while (!stop_ && queue_.empty()) work_cv_.Wait(&mu_);
    if (queue_.empty()) return;  // stop_, and everything queued has run
    Task task = std::move(queue_.front());
    queue_.pop_front();
    mu_.Unlock();
    std::optional<Result> result = task.run(*store_);
    mu_.Lock();
    if (result) results_.push_back(std::move(*result));
    ++finished_total_;
    done_cv_.SignalAll();
  }
}

void CheckpointWriter::Enqueue(std::function<std::optional<Result>(ParamStore&)> run) {
  {
    MutexLock lock(&mu_);
    queue_.push_back(Task{std::move(run)});
    ++queued_total_;
  }
  work_cv_.Signal();
}

template <typename T>
T CheckpointWriter::Call(std::function<T(ParamStore&)> fn) {
  std::optional<T> out;  // written on the writer thread before finished_total_ moves past ticket
  uint64_t ticket;
  {
    MutexLock lock(&mu_);
    queue_.push_back(Task{[&out, &fn](ParamStore& store) -> std::optional<Result> {
      out.emplace(fn(store));
      return std::nullopt;
    }});
    ticket = ++queued_total_;
  }
  work_cv_.Signal();
  MutexLock lock(&mu_);
  while (finished_total_ < ticket) done_cv_.Wait(&mu_);
  return std::move(*out);
}

void CheckpointWriter::Write(CheckpointManifest m, std::vector<BlockState> blocks,
                             std::vector<SparseRowsDelta> sparse) {
  Write(std::move(m), std::make_shared<VectorBlockSource>(std::move(blocks)), std::move(sparse));
}

void CheckpointWriter::Write(CheckpointManifest m, std::shared_ptr<BlockSource> blocks,
                             std::vector<SparseRowsDelta> sparse) {
  struct Data {
    CheckpointManifest m;
    std::shared_ptr<BlockSource> blocks;
    std::vector<SparseRowsDelta> sparse;
  };
  // shared_ptr: std::function needs a copyable callable.
  auto data = std::make_shared<Data>(Data{std::move(m), std::move(blocks), std::move(sparse)});
  Enqueue([data](ParamStore& store) -> std::optional<Result> {
    const auto start = std::chrono::steady_clock::now();
    Status s = store.WriteCheckpoint(data->m, *data->blocks, data->sparse);
    data->blocks->Close();
    for (SparseRowsDelta& d : data->sparse)
      if (d.live) d.live->Close();
    const uint64_t id = data->m.checkpoint_id;
    // Free the blocks and rows now, not when the task is destroyed.
    data->blocks.reset();
    std::vector<SparseRowsDelta>().swap(data->sparse);
    Result r{Result::Op::kWrite, id, std::move(s), MsSince(start)};
    r.finished = std::chrono::steady_clock::now();
    return r;
  });
}

void CheckpointWriter::Commit(uint64_t checkpoint_id) {
  Enqueue([checkpoint_id](ParamStore& store) -> std::optional<Result> {
    const auto start = std::chrono::steady_clock::now();
    Status s = store.CommitCheckpoint(checkpoint_id);
    return Result{Result::Op::kCommit, checkpoint_id, std::move(s), MsSince(start)};
  });
}

void CheckpointWriter::Delete(uint64_t checkpoint_id) {
  Enqueue([checkpoint_id](ParamStore& store) -> std::optional<Result> {
    const auto start = std::chrono::steady_clock::now();
    Status s = store.DeleteCheckpoint(checkpoint_id);
    return Result{Result::Op::kDelete, checkpoint_id, std::move(s), MsSince(start)};
  });
}

void CheckpointWriter::Prune(size_t keep) {
  Enqueue([keep](ParamStore& store) -> std::optional<Result> {
    const auto start = std::chrono::steady_clock::now();
    Status s = store.Prune(keep);
    return Result{Result::Op::kPrune, keep, std::move(s), MsSince(start)};
  });
}

std::vector<CheckpointWriter::Result> CheckpointWriter::Poll() {
  MutexLock lock(&mu_);
  std::vector<Result> out;
  out.swap(results_);
  return out;
}

Status CheckpointWriter::Drain(std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  MutexLock lock(&mu_);
  const uint64_t ticket = queued_total_;
  while (finished_total_ < ticket) {
    if (done_cv_.WaitUntil(&mu_, deadline) || finished_total_ >= ticket) continue;
    return Status::DeadlineExceeded(
        "checkpoint writer: " + std::to_string(ticket - finished_total_) +
        " operation(s) still queued after " + std::to_string(timeout.count()) + " ms");
  }
  return Status::OK();
}

size_t CheckpointWriter::queued() const {
  MutexLock lock(&mu_);
  return static_cast<size_t>(queued_total_ - finished_total_);
}

StatusOr<std::vector<uint64_t>> CheckpointWriter::ListCommitted() {
  return Call<StatusOr<std::vector<uint64_t>>>(
      [](ParamStore& store) { return store.ListCommitted(); });
}

StatusOr<std::vector<uint64_t>> CheckpointWriter::ListUncommitted() {
  return Call<StatusOr<std::vector<uint64_t>>>(
      [](ParamStore& store) { return store.ListUncommitted(); });
}

StatusOr<std::pair<CheckpointManifest, std::vector<BlockState>>> CheckpointWriter::ReadCheckpoint(
    uint64_t checkpoint_id) {
  return Call<StatusOr<std::pair<CheckpointManifest, std::vector<BlockState>>>>(
      [checkpoint_id](ParamStore& store) { return store.ReadCheckpoint(checkpoint_id); });
}

StatusOr<std::pair<CheckpointManifest, std::vector<BlockState>>>
CheckpointWriter::ReadWrittenCheckpoint(uint64_t checkpoint_id) {
  return Call<StatusOr<std::pair<CheckpointManifest, std::vector<BlockState>>>>(
      [checkpoint_id](ParamStore& store) { return store.ReadWrittenCheckpoint(checkpoint_id); });
}

Status CheckpointWriter::ReadSparseChain(uint64_t checkpoint_id, bool require_commit,
                                         const SparseChainFn& fn) {
  return Call<Status>(
      [&](ParamStore& store) { return store.ReadSparseChain(checkpoint_id, require_commit, fn); });
}

}  // namespace pst
