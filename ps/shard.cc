#include "ps/shard.h"

#include <string>

#include "common/model_layout.h"

namespace pst {

StatusOr<std::unique_ptr<Shard>> Shard::Create(const JobSpec& job, KeyRange range,
                                               uint32_t num_workers, uint64_t max_clocks_ahead) {
  PST_RETURN_IF_ERROR(ValidateJobSpec(job));
  PST_ASSIGN_OR_RETURN(ModelLayout layout, ModelLayout::FromSpec(job.model));
  if (range.end < range.begin || range.end > layout.total())
    return Status::InvalidArgument("shard range [" + std::to_string(range.begin) + ", " +
                                   std::to_string(range.end) + ") is outside the model's " +
                                   std::to_string(layout.total()) + " keys");
  if (num_workers == 0) return Status::InvalidArgument("shard needs at least one worker");
  std::unique_ptr<Shard> shard(new Shard(job, range, num_workers, max_clocks_ahead));
  shard->params_.resize(range.size());
  InitParams(job.model, layout, range.begin, range.end, shard->params_.data());
  PST_ASSIGN_OR_RETURN(shard->optimizer_, Optimizer::Create(job.optimizer, range.size()));
  return shard;
}

Status Shard::Push(uint32_t rank, uint64_t clock, KeyRange keys, uint32_t sample_count,
                   uint32_t chunks, const float* vals, size_t num_vals) {
  if (rank >= num_workers_)
    return Status::InvalidArgument("push: worker rank " + std::to_string(rank) +
                                   " >= number of workers " + std::to_string(num_workers_));
  if (clock < version_)
    return Status::FailedPrecondition("push: clock " + std::to_string(clock) +
                                      " was already applied (model version " +
                                      std::to_string(version_) + ")");
  if (clock >= version_ + max_ahead_)
    return Status::OutOfRange("push: clock " + std::to_string(clock) + " is more than " +
                              std::to_string(max_ahead_) + " clocks ahead of version " +
                              std::to_string(version_));
  if (chunks == 0 || chunks > 1u << 20)
    return Status::InvalidArgument("push: chunk count must be in [1, 2^20]");
  if (keys.end < keys.begin || (!keys.empty() && !range_.Contains(keys)))
    return Status::InvalidArgument("push: keys [" + std::to_string(keys.begin) + ", " +
                                   std::to_string(keys.end) + ") are not inside this shard's [" +
                                   std::to_string(range_.begin) + ", " +
                                   std::to_string(range_.end) + ")");
  if (num_vals != keys.size())
    return Status::InvalidArgument("push: " + std::to_string(num_vals) + " values for " +
                                   std::to_string(keys.size()) + " keys");
  if (!keys.empty() && sample_count == 0)
    return Status::InvalidArgument("push: gradient values with a sample count of 0");

  auto it = pending_.find(clock);
  const ClockAccum* existing = it == pending_.end() ? nullptr : &it->second;
  if (existing) {
    auto exp = existing->chunks_expected.find(rank);
    if (exp != existing->chunks_expected.end()) {
      if (exp->second != chunks)
        return Status::InvalidArgument("push: chunk count changed within a clock");
      const auto& seen = existing->chunks_seen.at(rank);
      if (seen.size() >= chunks || seen.count(keys.begin))
        return Status::AlreadyExists("push: chunk already received for this clock");
    }
  }

  // All checks passed: only now is state modified.
  ClockAccum& acc = pending_[clock];
  const bool first_chunk = acc.chunks_expected.emplace(rank, chunks).second;
  auto& seen = acc.chunks_seen[rank];
  seen.insert(keys.begin);
  if (first_chunk) acc.samples += sample_count;
  if (!keys.empty()) {
    if (acc.grad_sum.empty()) acc.grad_sum.assign(range_.size(), 0.0f);
    float* dst = acc.grad_sum.data() + (keys.begin - range_.begin);
    for (size_t i = 0; i < num_vals; ++i) dst[i] += vals[i];
  }
  if (seen.size() == chunks) ++acc.workers_complete;
  ApplyReadyClocks();
  return Status::OK();
}

void Shard::ApplyReadyClocks() {
  for (;;) {
    auto it = pending_.find(version_);
    if (it == pending_.end() || it->second.workers_complete < num_workers_) return;
    ClockAccum& acc = it->second;
    if (acc.samples > 0 && !acc.grad_sum.empty()) {
      const float inv = 1.0f / static_cast<float>(acc.samples);
      for (float& g : acc.grad_sum) g *= inv;
      optimizer_->Apply(params_.data(), acc.grad_sum.data(), ++optimizer_steps_);
    }
    pending_.erase(it);
    ++version_;
  }
}

Status Shard::CheckPull(KeyRange keys, uint64_t min_version) const {
  if (keys.end < keys.begin || !range_.Contains(keys))
    return Status::InvalidArgument("pull: keys [" + std::to_string(keys.begin) + ", " +
                                   std::to_string(keys.end) + ") are not inside this shard's [" +
                                   std::to_string(range_.begin) + ", " +
                                   std::to_string(range_.end) + ")");
  if (min_version > version_ + max_ahead_)
    return Status::OutOfRange("pull: version " + std::to_string(min_version) +
                              " is too far ahead of " + std::to_string(version_));
  if (min_version > version_) return Status::Unavailable("pull: waiting for version");
  return Status::OK();
}

}  // namespace pst
