// Shard's checkpoint capture and restore (see ps/shard.h).
#include <algorithm>
#include <cstddef>
#include <memory>
#include <string>
#include <utility>

#include "ps/shard.h"

namespace pst {
namespace {

std::string RangeText(KeyRange r) {
  return "[" + std::to_string(r.begin) + ", " + std::to_string(r.end) + ")";
}

std::string NamesText(const std::vector<std::string>& names) {
  std::string out = "{";
  for (size_t i = 0; i < names.size(); ++i) out += (i ? ", " : "") + names[i];
  return out + "}";
}

}  // namespace

bool Shard::AsyncBlockReady(const Block& b) const {
  for (uint32_t r : active_)
    if (workers_[r].state == WorkerState::kActive && b.next_clock[r] < capture_->clock)
      return false;
  return true;
}

Shard::~Shard() { DetachReaders(); }

void Shard::DetachReaders() {
  ForEachOpenCapture(reading_, [](LiveCapture& c) { c.Detach(); });
  reading_.clear();
}

void Shard::BeforeChange(const Block& b) {
  const size_t i = IndexOf(b);
  if (capture_) capture_->live->BeforeChange(i);
  ForEachOpenCapture(reading_, [i](LiveCapture& c) { c.BeforeChange(i); });
}

void Shard::CopyBlock(Block& b) {
  const size_t i = IndexOf(b);
  if (Copied(b)) return;
  LiveCapture::LiveBlock live{b.keys, b.version, b.optimizer_steps,
                              params_.data() + (b.keys.begin - range_.begin), {}};
  for (size_t s = 0; s < slot_names_.size(); ++s) live.slots.push_back(b.optimizer->slot(s));
  capture_->live->Mark(i, std::move(live));
  ++capture_->num_copied;
  for (HeldPush& p : capture_->held[i]) {
    ApplyAsync(b, p.clock, p.sample_count, p.vals.data(), p.vals.size());
    spare_sums_.push_back(std::move(p.vals));
  }
  capture_->held[i].clear();
}

void Shard::CopyReadyAsyncBlocks() {
  for (Block& b : blocks_)
    if (!Copied(b) && AsyncBlockReady(b)) CopyBlock(b);
}

void Shard::HoldPush(Block& b, uint32_t rank, uint64_t clock, uint32_t sample_count,
                     const float* vals, size_t num_vals) {
  HeldPush p{rank, clock, sample_count, {}};
  if (!spare_sums_.empty()) {
    p.vals = std::move(spare_sums_.back());
    spare_sums_.pop_back();
  }
  p.vals.assign(vals, vals + num_vals);
  capture_->held[IndexOf(b)].push_back(std::move(p));
}

Status Shard::BeginCapture(uint64_t id, uint64_t clock) {
  const std::string what =
      "capture " + std::to_string(id) + " at clock " + std::to_string(clock) + " missed: ";
  if (!async()) {
    for (const Block& b : blocks_)
      if (b.version > clock)
        return Status::FailedPrecondition(what + "block " + RangeText(b.keys) + " is at version " +
                                          std::to_string(b.version));
  } else if (applied_end_ > clock) {
    return Status::FailedPrecondition(what + "a push for clock " +
                                      std::to_string(applied_end_ - 1) + " was already applied");
  }

  auto next = std::make_unique<Capture>();
  next->id = id;
  next->clock = clock;
  next->live = std::make_shared<LiveCapture>(blocks_.size());
  next->held.resize(blocks_.size());
  if (std::unique_ptr<Capture> old = std::move(capture_)) {
    // Held pushes keep their order; those the new capture must include are applied now.
    for (size_t i = 0; i < blocks_.size(); ++i) {
      for (HeldPush& p : old->held[i]) {
        if (p.clock >= clock) {
          next->held[i].push_back(std::move(p));
          continue;
        }
        ApplyAsync(blocks_[i], p.clock, p.sample_count, p.vals.data(), p.vals.size());
        spare_sums_.push_back(std::move(p.vals));
      }
    }
  }
  capture_ = std::move(next);
  for (Block& b : blocks_)
    if (async() ? AsyncBlockReady(b) : b.version == clock) CopyBlock(b);
  return Status::OK();
}

void Shard::CancelCapture() {
  if (!capture_) return;
  std::unique_ptr<Capture> old = std::move(capture_);
  for (size_t i = 0; i < blocks_.size(); ++i) {
    for (HeldPush& p : old->held[i]) {
      ApplyAsync(blocks_[i], p.clock, p.sample_count, p.vals.data(), p.vals.size());
      spare_sums_.push_back(std::move(p.vals));
    }
  }
}

bool Shard::HoldsPushOf(KeyRange keys, uint32_t rank) const {
  if (!capture_) return false;
  for (size_t i = 0; i < blocks_.size(); ++i) {
    if (blocks_[i].keys.end <= keys.begin || keys.end <= blocks_[i].keys.begin) continue;
    for (const HeldPush& p : capture_->held[i])
      if (p.rank == rank) return true;
  }
  return false;
}

bool Shard::capture_ready() const { return capture_ && capture_->num_copied == blocks_.size(); }

std::optional<LiveCheckpoint> Shard::TakeLiveCapture() {
  if (!capture_ready()) return std::nullopt;
  LiveCheckpoint out{capture_->id, capture_->clock, std::move(capture_->live), slot_names_};
  capture_.reset();
  reading_.push_back(out.blocks);
  return out;
}

std::optional<CapturedCheckpoint> Shard::TakeCapture() {
  std::optional<LiveCheckpoint> live = TakeLiveCapture();
  if (!live) return std::nullopt;
  auto blocks = live->blocks->ReadAll();
  live->blocks->Close();
  if (!blocks.ok()) return std::nullopt;  // every block was marked: cannot happen
  return CapturedCheckpoint{live->id, live->clock, std::move(blocks).value(),
                            std::move(live->slot_names)};
}

Status Shard::Restore(uint64_t clock, const std::vector<BlockState>& blocks,
                      const std::vector<std::string>& slot_names,
                      const std::vector<uint32_t>& active_ranks) {
  const std::string what = "restore at clock " + std::to_string(clock) + ": ";
  if (slot_names != slot_names_)
    return Status::FailedPrecondition(what + "checkpoint optimizer slots " + NamesText(slot_names) +
                                      " differ from this job's " + NamesText(slot_names_) +
                                      ": optimizer changed?");
  if (blocks.size() != blocks_.size())
    return Status::FailedPrecondition(
        what + "checkpoint blocks differ: " + std::to_string(blocks.size()) +
        " blocks, this shard " + RangeText(range_) + " has " + std::to_string(blocks_.size()) +
        ": block_keys or the server split changed?");
  for (size_t i = 0; i < blocks.size(); ++i) {
    const BlockState& in = blocks[i];
    if (!(in.keys == blocks_[i].keys))
      return Status::FailedPrecondition(
          what + "checkpoint blocks differ: block " + std::to_string(i) + " is " +
          RangeText(in.keys) + ", here " + RangeText(blocks_[i].keys) + ": block_keys changed?");
    if (in.values.size() != in.keys.size() || in.slots.size() != slot_names_.size())
      return Status::InvalidArgument(what + "block " + RangeText(in.keys) + " has " +
                                     std::to_string(in.values.size()) + " values and " +
                                     std::to_string(in.slots.size()) + " slots");
    for (size_t s = 0; s < in.slots.size(); ++s)
      if (in.slots[s].size() != in.keys.size())
        return Status::InvalidArgument(what + "block " + RangeText(in.keys) + " slot '" +
                                       slot_names_[s] + "' has " +
                                       std::to_string(in.slots[s].size()) + " floats");
  }
  std::vector<Worker> workers(workers_.size());
  for (uint32_t r : active_ranks) {
    if (r >= kMaxRanks)
      return Status::InvalidArgument(what + "worker rank " + std::to_string(r) +
                                     " >= " + std::to_string(kMaxRanks));
    if (r >= workers.size()) workers.resize(r + 1);
    if (workers[r].state == WorkerState::kActive)
      return Status::InvalidArgument(what + "worker rank " + std::to_string(r) + " listed twice");
    workers[r] = Worker{WorkerState::kActive, clock};
  }

  // Validated: from here on nothing fails. Captures still being read keep
  // the state they marked.
  capture_.reset();
  DetachReaders();
  workers_ = std::move(workers);
  RebuildRoster();
  applied_end_ = clock;
  for (size_t i = 0; i < blocks_.size(); ++i) {
    Block& b = blocks_[i];
    const BlockState& in = blocks[i];
    std::copy(in.values.begin(), in.values.end(),
              params_.begin() + static_cast<ptrdiff_t>(b.keys.begin - range_.begin));
    for (size_t s = 0; s < in.slots.size(); ++s)
      std::copy(in.slots[s].begin(), in.slots[s].end(), b.optimizer->slot(s));
    b.optimizer_steps = in.optimizer_steps;
    b.version = async() ? in.version : clock;
    for (auto& [c, acc] : b.pending) RecycleHeld(acc);
    b.pending.clear();
    b.next_clock.assign(workers_.size(), 0);
    for (uint32_t r : active_) b.next_clock[r] = clock;
  }
  return Status::OK();
}

}  // namespace pst
