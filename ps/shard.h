// pst::Shard: the state of one PS shard, free of any networking: the values of
// its key range, the optimizer state beside them, the gradient accumulators of
// bulk-synchronous training, the roster of workers and an in-flight checkpoint
// capture. pst::Server feeds it decoded requests.
//
// The range is split into blocks of BlockKeys(job.train) keys (the last may be
// shorter), each with its own version and optimizer state, so a worker can
// receive the first updated blocks while it is still sending the last
// gradients. How pushes become updates depends on job.train.consistency:
//  - BSP: a block applies clock t once every worker active for t (added with
//    from_clock <= t and not removed) has pushed it, with the mean gradient
//    over all their samples (the pushes summed in their data order, see
//    Push); clocks that wait for no active worker apply at
//    once (with what removed workers left), but with no active worker at all
//    nothing applies;
//  - ASP and SSP: every push is applied on arrival (its own mean gradient).
//    Each worker's pushes come in clock order; SSP pulls wait until every live
//    (active, not retired) worker has pushed the clocks the puller may not miss.
//
// Roster: ranks are small integers (< kMaxRanks). A rank is absent (never
// added), active (pushing, from its from_clock on), retired (ASP/SSP: active
// but done) or removed (left or died). Pushes from absent ranks are
// kInvalidArgument; from removed or retired ones kFailedPrecondition.
//
// Checkpoints: BeginCapture(id, K) marks every block's state "after exactly
// the clocks < K" as soon as the block gets there, while training continues;
// TakeLiveCapture() hands the marked blocks over once all are marked, as a
// pst::LiveCapture that a writer thread reads from this shard's memory,
// copy-on-write: a block is copied only if an update is about to change it
// before the writer has read it. Restore() puts such a state back.
//
// Every method validates its arguments (range, roster, clock window, sizes)
// and leaves the state untouched when it returns an error.
// Not thread-safe; only the LiveCaptures it hands out may be read by another
// thread while its methods run (see ps/live_capture.h).
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "common/consistency.h"
#include "common/job_spec.h"
#include "common/key_range.h"
#include "common/status.h"
#include "common/table_spec.h"
#include "ps/live_capture.h"
#include "ps/optimizer.h"
#include "ps/param_store.h"

namespace pst {

// A shard's state after exactly the clocks < `clock`: one BlockState per
// block, in key order (none for a shard without keys). BSP blocks have
// version == clock; ASP/SSP blocks count the pushes applied.
struct CapturedCheckpoint {
  uint64_t id = 0;
  uint64_t clock = 0;
  std::vector<BlockState> blocks;
  std::vector<std::string> slot_names;  // Optimizer::SlotNames(), the order of BlockState::slots
};

// The same state as a live capture (see ps/live_capture.h): every block
// marked, read from the shard's memory, copied only before it changes.
struct LiveCheckpoint {
  uint64_t id = 0;
  uint64_t clock = 0;
  std::shared_ptr<LiveCapture> blocks;
  std::vector<std::string> slot_names;
};

class Shard {
 public:
  // Ranks are stored densely (per block under ASP/SSP), so they are bounded.
  static constexpr uint32_t kMaxRanks = 4096;

  // Initialises keys `range` of the dense key space of `tables` (see
  // common/table_spec.h: same values as any other split would give), blocked
  // by BlockKeys(train) and combined by train.consistency, with ranks
  // [0, num_workers) active from clock 0. num_workers may be 0: workers join
  // later with AddWorker. Blocks may span tables, so every dense table must
  // declare the same optimizer. Sparse tables are not served here.
  // kInvalidArgument for bad tables or train spec, a range outside the dense
  // key space, dense tables with different optimizers, num_workers >
  // kMaxRanks or max_clocks_ahead == 0.
  static StatusOr<std::unique_ptr<Shard>> Create(const std::vector<TableSpec>& tables,
                                                 const TrainSpec& train, KeyRange range,
                                                 uint32_t num_workers, uint64_t max_clocks_ahead);
  // Detaches the live captures still being read (they copy what they still need).
  ~Shard();
  Shard(const Shard&) = delete;
  Shard& operator=(const Shard&) = delete;

  KeyRange range() const { return range_; }
  // The blocks, in key order; they tile range() (none if it is empty).
  std::vector<KeyRange> blocks() const;
  // Number of clocks applied to every block (the smallest block version).
  uint64_t version() const;
  // The clock boundary this shard has applied up to, comparable to workers'
  // clocks: BSP, version(); ASP/SSP (where a version counts pushes, of all
  // workers), one past the largest clock of an applied push.
  uint64_t applied_clock() const { return async() ? applied_end_ : version(); }
  // Optimizer steps taken by the block holding `key` (clocks with at least one
  // sample). REQUIRES: range() contains key.
  uint64_t optimizer_steps(uint64_t key) const;
  // Optimizer::SlotNames() of the job's optimizer (also for a shard without keys).
  std::vector<std::string> slot_names() const { return slot_names_; }
  // Active ranks (retired ones included), ascending.
  std::vector<uint32_t> active_ranks() const { return active_; }

  // Adds one push from worker `rank` for `clock`: gradient sums over
  // `sample_count` samples for exactly one block (`keys` equal to a block), or,
  // with sample_count 0, empty keys and no values, "nothing from this worker at
  // this clock" for every block (an idle worker under BSP). A block whose push
  // completes clock == its version applies the mean gradient (sum over workers /
  // total samples) with the job's optimizer and advances its version
  // (repeatedly, if later clocks are complete too).
  // Errors (state unchanged): kInvalidArgument (rank never added or
  // >= kMaxRanks, keys not a block, sizes, values with no samples),
  // kFailedPrecondition (rank removed or retired, clock before the rank's
  // from_clock, clock already applied), kOutOfRange (clock too far ahead),
  // kAlreadyExists (this worker already pushed this block for this clock).
  // Under ASP/SSP pushes of one worker must come in clock order (per block):
  // kFailedPrecondition for a repeated or skipped clock.
  // BSP: a clock sums its pushes in (data_order, rank) order (data_order:
  // where the push's batch lies in the job's data order, see
  // proto PushRequest.dataOrder), so the update depends neither on the order
  // in which they arrive nor on which worker trained which batch. Until a
  // clock is complete its pushes are held: with W workers up to W - 1 copies
  // of a block per pending clock (the last push is summed in place).
  Status Push(uint32_t rank, uint64_t clock, KeyRange keys, uint32_t sample_count,
              const float* vals, size_t num_vals, uint64_t data_order = 0);

  // Makes `rank` active: it must push every block for every clock >=
  // from_clock (ASP/SSP: its next clock on every block becomes from_clock).
  // A removed or absent rank may be added; ranks beyond the current ones grow
  // the per-rank storage.
  // Errors: kInvalidArgument (rank >= kMaxRanks); kAlreadyExists (rank is
  // active or retired); kFailedPrecondition, retry with a later from_clock:
  //  - BSP: some block already applied clock from_clock (version > from_clock),
  //    or this rank, before it was removed, pushed a clock >= from_clock that is
  //    still pending (it would count twice);
  //  - ASP/SSP: a capture at clock K > from_clock has already copied some block
  //    (the copy would miss this worker's clocks < K).
  Status AddWorker(uint32_t rank, uint64_t from_clock);

  // `rank` left or died: it is never waited for again (BSP clocks that waited
  // only for it apply now; SSP pulls and captures stop waiting for it). What it
  // already pushed stays (pending BSP contributions still apply).
  // Returns the number of clocks it completed on this shard: the smallest, over
  // all blocks, of the first clock >= its from_clock it had not pushed that
  // block for. A shard without blocks cannot tell and returns from_clock.
  // kNotFound if rank is not active (absent, removed; retired ranks can be
  // removed).
  StatusOr<uint64_t> RemoveWorker(uint32_t rank);

  // ASP/SSP: worker `rank` will push no more (it ran out of data); SSP pulls
  // and captures stop waiting for it. It stays on the roster (AddWorker says
  // kAlreadyExists; RemoveWorker removes it). OK if it already retired.
  // kInvalidArgument if rank is not active or under BSP.
  Status Retire(uint32_t rank);

  // ASP/SSP: the number of clocks every live worker has pushed for all blocks
  // overlapping `keys` (UINT64_MAX when no worker is live). BSP: VersionOf(keys).
  uint64_t SlowestClock(KeyRange keys) const;

  // Checks a pull of `keys` for `min_version`: OK if it can be answered now
  // (BSP: every block overlapping keys has that version; SSP: every live worker
  // has pushed min_version clocks of them; ASP: always), kUnavailable if it must
  // wait, kInvalidArgument / kOutOfRange if it can never be answered.
  // A capture in flight changes no answer.
  Status CheckPull(KeyRange keys, uint64_t min_version) const;
  // CheckPull for a pull by worker `puller`: also kUnavailable while a capture
  // holds a push of that worker to those keys (see HoldsPushOf).
  Status CheckPull(KeyRange keys, uint64_t min_version, uint32_t puller) const;
  // The smallest version among the blocks overlapping `keys`.
  // REQUIRES: range().Contains(keys), keys not empty.
  uint64_t VersionOf(KeyRange keys) const;
  // The current values of keys. REQUIRES: range().Contains(keys).
  const float* values(KeyRange keys) const { return params_.data() + (keys.begin - range_.begin); }

  // Starts capturing checkpoint `id` at clock boundary `clock` (K): each block
  // is marked (values, optimizer slots, steps, version) in the state of
  // "initial (or restored) state + every push with clock < K, none with clock
  // >= K", as soon as it reaches that state:
  //  - BSP: when its version reaches K, before clock K is applied (at once if
  //    it is at K already);
  //  - ASP/SSP: once every live worker has pushed all clocks < K to it. Until
  //    then, pushes with clock >= K to it are accepted (OK, and they count in
  //    the clock order and for SSP pulls) but held, copied, and applied in
  //    arrival order right after the block is copied.
  // Removing or retiring a worker can complete blocks. Nothing is copied at
  // the mark: an update to a marked block copies it first (until the capture's
  // reader has read it); pushes cost nothing extra when no capture is in
  // flight or being read.
  // One capture at a time: a capture in flight is replaced (its held pushes
  // with clock < K are applied, those >= K stay held for the new one).
  // kFailedPrecondition ("missed", state and the old capture unchanged): BSP,
  // a block's version is > K; ASP/SSP, a push with clock >= K was applied.
  Status BeginCapture(uint64_t id, uint64_t clock);
  // Drops the capture in flight, if any, and applies the pushes it held.
  void CancelCapture();
  bool capturing() const { return capture_ != nullptr; }
  // ASP/SSP: a capture holds a push of `rank` to a block overlapping `keys`
  // (it is applied when that block is copied). Until then a pull by that
  // worker must wait: answered at once, it would miss the worker's own
  // pushes, and a worker far ahead of the slowest would go on computing
  // gradients on values without them, to be applied later in one burst.
  bool HoldsPushOf(KeyRange keys, uint32_t rank) const;
  // A capture is in flight and every block has been marked.
  bool capture_ready() const;
  // The finished capture (then no capture is in flight), or nullopt (nothing
  // changes) unless capture_ready(). The shard keeps copying its blocks on
  // change until the reader Closes it (or the shard goes away).
  std::optional<LiveCheckpoint> TakeLiveCapture();
  // TakeLiveCapture, with every block read (copied) at once.
  std::optional<CapturedCheckpoint> TakeCapture();

  // Replaces the whole state with a checkpoint taken at `clock`: values,
  // optimizer slots and steps of every block; BSP: every version becomes
  // `clock`; ASP/SSP: versions as stored. The roster becomes exactly
  // `active_ranks`, each active from `clock` (others absent). Pending
  // accumulators, held pushes and any capture in flight are dropped.
  // Errors (state untouched): kFailedPrecondition if `blocks` do not have this
  // shard's key ranges (in order) or `slot_names` differ from slot_names()
  // (the message names the mismatch); kInvalidArgument for a block whose values
  // or slots have the wrong sizes, or a duplicate rank or one >= kMaxRanks.
  Status Restore(uint64_t clock, const std::vector<BlockState>& blocks,
                 const std::vector<std::string>& slot_names,
                 const std::vector<uint32_t>& active_ranks);

 private:
  enum class WorkerState : uint8_t { kAbsent, kActive, kRetired, kRemoved };
  struct Worker {
    WorkerState state = WorkerState::kAbsent;
    uint64_t from_clock = 0;  // first clock it must push
  };
  // BSP: one worker's gradient for one clock of one block.
  struct Contribution {
    uint64_t order = 0;  // the push's data order; (order, rank) orders the sum
    uint32_t rank = 0;
    const float* vals = nullptr;  // held.data(), or the caller's values (see incoming)
    std::vector<float> held;
  };
  struct ClockAccum {
    // Pushes with values, held until the clock is complete, sorted by (order,
    // rank): summing them in that order makes the update independent of the
    // arrival order and of which worker trained which batch.
    std::vector<Contribution> held;
    // The push that completes the clock is summed straight from the caller's
    // values: set only during that Push call (vals null otherwise).
    Contribution incoming;
    uint64_t samples = 0;
    std::set<uint32_t> ranks;  // workers that pushed this block for this clock
  };
  struct Block {
    KeyRange keys;
    uint64_t version = 0;              // BSP: clocks applied; ASP/SSP: pushes applied
    std::vector<uint64_t> next_clock;  // ASP/SSP: per rank, first clock not pushed
    uint64_t optimizer_steps = 0;
    std::unique_ptr<Optimizer> optimizer;
    std::map<uint64_t, ClockAccum> pending;  // clock -> accumulator
  };
  // An ASP/SSP push held back by a capture.
  struct HeldPush {
    uint32_t rank;
    uint64_t clock;
    uint32_t sample_count;
    std::vector<float> vals;
  };
  struct Capture {
    uint64_t id = 0;
    uint64_t clock = 0;
    std::shared_ptr<LiveCapture> live;  // a block is "copied" once marked there
    size_t num_copied = 0;
    std::vector<std::vector<HeldPush>> held;  // per block, arrival order
  };

  Shard(KeyRange range, uint64_t max_ahead, const TrainSpec& train)
      : range_(range), max_ahead_(max_ahead), policy_(train) {}
  bool async() const { return policy_.apply_on_arrival(); }
  size_t IndexOf(const Block& b) const { return static_cast<size_t>(&b - blocks_.data()); }
  // Active or retired.
  bool OnRoster(uint32_t rank) const {
    return rank < workers_.size() && (workers_[rank].state == WorkerState::kActive ||
                                      workers_[rank].state == WorkerState::kRetired);
  }
  // Roster checks shared by every push.
  Status CheckWorker(uint32_t rank, uint64_t clock) const;
  // Recomputes active_, min_from_ and max_from_ from workers_.
  void RebuildRoster();
  Status PushAsync(Block& b, uint32_t rank, uint64_t clock, uint32_t sample_count,
                   const float* vals, size_t num_vals);
  // ASP/SSP: applies one push's own mean gradient. REQUIRES: sample_count > 0.
  void ApplyAsync(Block& b, uint64_t clock, uint32_t sample_count, const float* vals,
                  size_t num_vals);
  uint64_t SlowestOf(const Block& b) const;
  // The block that starts at `begin`, or nullptr.
  Block* FindBlock(uint64_t begin);
  const Block* FindBlock(uint64_t begin) const;
  Status CheckClock(const Block& b, uint32_t rank, uint64_t clock) const;
  // BSP: whether clock t, which has pushes in acc, can apply.
  bool ClockComplete(const ClockAccum& acc, uint64_t t) const;
  // BSP: the gradient sum of a complete clock, in (order, rank) order, or
  // null without values; may sum into one of acc's held buffers.
  const float* SumInOrder(ClockAccum& acc, size_t n);
  // Gives acc's held buffers back for reuse.
  void RecycleHeld(ClockAccum& acc);
  void ApplyReadyClocks(Block& b);
  uint64_t CompletedClocks(uint32_t rank) const;

  // Capture helpers (shard_capture.cc).
  // ASP/SSP: every live worker has pushed all clocks < capture_->clock to b.
  bool AsyncBlockReady(const Block& b) const;
  // Marks b in capture_, then applies the pushes held for it.
  void CopyBlock(Block& b);
  bool Copied(const Block& b) const { return capture_->live->marked(IndexOf(b)); }
  // b's values or optimizer state are about to change: every capture that
  // still needs b's current state copies it first.
  void BeforeChange(const Block& b);
  // Every capture still being read copies what it has not read yet.
  void DetachReaders();
  // ASP/SSP: copies every block that became ready.
  void CopyReadyAsyncBlocks();
  void HoldPush(Block& b, uint32_t rank, uint64_t clock, uint32_t sample_count, const float* vals,
                size_t num_vals);

  KeyRange range_;
  uint64_t max_ahead_;
  ConsistencyPolicy policy_;
  std::vector<std::string> slot_names_;
  std::vector<float> params_;
  std::vector<Block> blocks_;
  std::vector<std::vector<float>> spare_sums_;  // value buffers for reuse

  std::vector<Worker> workers_;   // indexed by rank
  std::vector<uint32_t> active_;  // ranks active or retired, ascending
  uint64_t min_from_ = 0;         // smallest / largest from_clock in active_
  uint64_t max_from_ = 0;
  // ASP/SSP: 1 + the largest clock of an applied push (0: none), so a capture
  // can tell whether it is too late.
  uint64_t applied_end_ = 0;
  std::unique_ptr<Capture> capture_;  // the capture in flight
  // Captures handed out, while their reader (or a capture dropped unwritten)
  // still holds them and has not closed them.
  std::vector<std::weak_ptr<LiveCapture>> reading_;
};

}  // namespace pst
