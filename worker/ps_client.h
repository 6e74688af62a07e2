// pst::PsClient: a worker's connections to every PS shard.
//
// Each server's key range is split into blocks of the job's block_keys (the
// servers split theirs the same way), and every transfer is per block, so
// transfers overlap computation:
//  - pull: StartPull() asks every block for a version at once and returns a
//    PullHandle; WaitKeys(handle, keys) returns as soon as the blocks covering
//    some keys have arrived (the forward pass can start on the first layer's
//    blocks while later ones are in flight);
//  - push: after BeginPush(), GradReady() sends each block the moment its
//    gradient is complete (while the backward pass computes the rest). A push
//    may carry the pull of the next version of its block (push-and-pull): the
//    server's answer to the push is then that pull's, so each block and step
//    costs one message each way instead of two.
// Up to two pulls may be in flight at once, each into its own parameter buffer
// and named by the handle StartPull or EnsurePull returned: under ASP/SSP a
// worker prefetches the next step's parameters into one buffer while it
// computes on the other. Every pull says which clock it is for (PullTarget);
// the client keeps no current clock.
// Values arriving from a server are copied once, straight into the caller's
// parameter buffer (in WaitKeys, or earlier in TakeArrived); gradients are
// sent zero-copy from the caller's buffer.
// With set_pull_views(true) and a model of one block, nothing is copied: the
// client keeps the answer's frame and Values() hands out a pointer into
// it, for the BLAS calls to read in place.
//
// Latency: the client reads the steady clock when it sends a block's pull or
// push, and again when it first sees the answer (pull) or ack (push) received;
// the difference goes into a LatencyHistogram (TakeLatencies). Answers are
// received only while the client waits for or collects them (WaitKeys, Pull,
// CollectPushAcks, WaitPushes): one arriving while the caller computes counts
// until it is next looked for, so a latency is an upper bound on the network
// and server time by up to one such gap. The answer to a push that carries
// its pull is both that pull's answer and the push's ack, and is counted in
// both histograms. Pulls abandoned by a new StartPull, empty pushes
// (PushEmpty, Retire) and unanswered requests are not counted.
//
// Not thread-safe: one worker thread owns it.
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <vector>
#include <zmq.hpp>

#include "common/channel.h"
#include "common/latency_histogram.h"
#include "common/registration.h"
#include "common/status.h"

namespace pst {

// What a pull fetches: every block at version >= min_version, for a worker at
// `clock` (sent to the servers, which measure staleness with it), written to
// dest[key] (dest holds the whole model and outlives the pull).
struct PullTarget {
  float* dest = nullptr;
  uint64_t clock = 0;
  uint64_t min_version = 0;

  bool operator==(const PullTarget&) const = default;
};

// Names one pull of one PsClient. A handle goes stale when its pull is
// replaced (a new pull into the same buffer, or a third buffer taking its
// slot once it is complete); using a stale handle is kFailedPrecondition.
// Default-constructed handles name no pull. Copyable, cheap.
class PullHandle {
 public:
  PullHandle() = default;
  bool valid() const { return slot_ >= 0; }

 private:
  friend class PsClient;
  PullHandle(int slot, uint64_t serial) : slot_(slot), serial_(serial) {}
  int slot_ = -1;
  uint64_t serial_ = 0;
};

// A push of one step's gradient sums (see PsClient::BeginPush).
struct PushSpec {
  uint32_t rank = 0;
  uint64_t clock = 0;
  uint32_t samples = 0;  // > 0
  // BSP: where the step's batch lies in the job's data order (epoch x
  // training samples + its first position); orders the clock's sum on the
  // servers (see Shard::Push). Default: 0.
  uint64_t data_order = 0;
  // The whole model's gradient buffer, sent zero-copy; `owner` keeps it alive
  // until sent.
  const float* grad = nullptr;
  std::shared_ptr<const void> owner;
  // If set (dest != null), every block pushed also asks for its values for
  // this later pull (push-and-pull; then_pull.clock > clock).
  PullTarget then_pull;
};

class PsClient {
 public:
  // block_keys: BlockKeys(job.train) (the servers' block size). rank:
  // this worker's rank (sent with pulls so servers can measure staleness).
  static StatusOr<std::unique_ptr<PsClient>> Connect(zmq::context_t& ctx,
                                                     const std::vector<ServerEntry>& servers,
                                                     uint64_t block_keys, uint32_t rank = 0,
                                                     const WireLimits& limits = {},
                                                     const ClusterKeys* curve = nullptr);

  // The job generation sent with every request; servers of another generation
  // answer kAborted (a rollback happened). Default: 0.
  void set_generation(uint32_t generation) { generation_ = generation; }
  // Largest staleness seen in pull answers so far: the clock a pull was made
  // for minus the clocks every live worker had pushed (ASP/SSP; 0 under BSP).
  uint64_t max_staleness() const { return max_staleness_; }

  // Pull views: when the model is one block, a pull's answer is kept as it
  // arrived instead of being copied into the pull's buffer, and Values()
  // points into it. The view stays valid, unchanged, until the next answer
  // for that buffer is taken (by a WaitKeys into it), so a step may read it
  // while the next pull into the same buffer is already in flight. With
  // several blocks values are copied as usual. Default: off.
  void set_pull_views(bool on) { pull_views_ = on && blocks_.size() == 1; }
  bool pull_views() const { return pull_views_; }

  // Asks every server for every block of `target`. Drops a pull into
  // target.dest started earlier (its handle goes stale).
  // kFailedPrecondition if two pulls into other buffers are still in flight;
  // a send failure's status otherwise.
  StatusOr<PullHandle> StartPull(const PullTarget& target);
  // The pull of exactly `target` if one is under way or done (started by
  // StartPull or carried by a push), else StartPull(target).
  StatusOr<PullHandle> EnsurePull(const PullTarget& target);
  // Blocks until every block overlapping `keys` of the pull has arrived (and
  // been written), up to `timeout` (kDeadlineExceeded naming the silent
  // server) or until *stop (kCancelled). kFailedPrecondition for a stale or
  // empty handle; a server's refusal (e.g. kAborted) as its status.
  Status WaitKeys(PullHandle pull, KeyRange keys, std::chrono::milliseconds timeout,
                  const std::atomic<bool>* stop);
  // WaitKeys for every key; returns the smallest version among the answers.
  StatusOr<uint64_t> WaitAll(PullHandle pull, std::chrono::milliseconds timeout,
                             const std::atomic<bool>* stop);
  // The values of the pull taken so far: a view into its answer (see
  // set_pull_views) or its buffer; null for a stale or empty handle.
  const float* Values(PullHandle pull) const;
  // Copies into target.dest the answers that have arrived (without waiting)
  // for the pull of exactly `target`, of the blocks lying wholly inside
  // `keys`: what WaitKeys would copy later, done as soon as the caller can
  // take them, so that received frames do not pile up while it computes.
  // The caller must not be reading those keys of the buffer for other values
  // (it is done with them, or has yet to wait for them). Does nothing if no
  // such pull is under way, and with pull views (whose answers are never
  // copied). Errors: a server's refusal or a bad answer, as WaitKeys.
  Status TakeArrived(const PullTarget& target, KeyRange keys);

  // Starts a push of push.samples samples' gradient sums for push.clock. The
  // caller must not rewrite a block once reported ready until the servers
  // have it (any later pull of that block implies they do).
  // With push.then_pull, the pull it names is set up when the first block is
  // sent, as if StartPull(then_pull) had been called then (dropping an
  // earlier pull into its buffer); EnsurePull(then_pull) finds it from then
  //  on. Values reach a buffer only inside
  // WaitKeys, so the buffer may be the one this step still reads. A failed
  // push shows up as that pull's error; GradReady returns kFailedPrecondition
  // if two pulls into other buffers are in flight.
  void BeginPush(PushSpec push);
  // Declares grad[keys] final; sends every block that is now complete.
  // Each key is reported once per push.
  Status GradReady(KeyRange keys);
  // REQUIRES: every key was reported ready. kInternal if some block was not sent.
  Status EndPush();
  // "Nothing from this worker at this clock" to every server (an idle BSP step).
  Status PushEmpty(uint32_t rank, uint64_t clock);
  // ASP/SSP: tells every server this worker will push no more.
  Status Retire(uint32_t rank);

  // Takes the push acknowledgements that have arrived without waiting; returns
  // the first error a server reported.
  Status CollectPushAcks();
  // Waits for the acknowledgements of every push sent so far (for a push that
  // carried its pull: until that pull's answer has arrived).
  Status WaitPushes(std::chrono::milliseconds timeout, const std::atomic<bool>* stop);

  // Adds the pull and push latencies measured since the previous call (or
  // since Connect) to *pull and *push and forgets them here, so a caller can
  // keep cumulative histograms over several PsClients. Cheap (no locking).
  void TakeLatencies(LatencyHistogram* pull, LatencyHistogram* push);

 private:
  struct Block {
    size_t server;
    KeyRange keys;
    uint64_t ready_keys = 0;  // gradient keys reported ready in the current push
    bool pushed = false;
  };
  // One pull into one parameter buffer; per-block vectors follow blocks_.
  struct PullSlot {
    PullTarget target;    // dest null: the slot is free
    uint64_t serial = 0;  // bumped whenever the slot takes a new pull
    uint64_t version_seen = UINT64_MAX;
    bool via_push = false;   // the requests are the pushes (push-and-pull)
    size_t outstanding = 0;  // blocks not yet arrived
    // Request id per block; 0 once arrived, kNotSent while a push-and-pull
    // has yet to send that block.
    std::vector<uint64_t> ids;
    std::vector<std::chrono::steady_clock::time_point> sent;
    std::vector<bool> timed;  // the answer is yet to be seen (and timed)
    // Pull views: the last answer taken, and its values (null: none yet).
    InMessage view_frame;
    const float* view = nullptr;
  };
  struct Pending {
    size_t server;
    uint64_t id;
    std::chrono::steady_clock::time_point sent{};
    bool timed = false;  // a gradient block whose ack is yet to be seen (and timed)
  };
  PsClient(std::vector<std::unique_ptr<Channel>> channels, std::vector<Block> blocks,
           uint32_t rank);
  // Index of the first block that ends after `key`.
  size_t FirstBlockAfter(uint64_t key) const;
  // The slot of the pull into `dest`, or null.
  PullSlot* FindPull(const float* dest);
  // The slot a handle names, or null if it is stale or empty.
  PullSlot* SlotOf(PullHandle pull);
  const PullSlot* SlotOf(PullHandle pull) const;
  PullHandle HandleOf(const PullSlot& slot) const {
    return PullHandle(static_cast<int>(&slot - pulls_), slot.serial);
  }
  // Forgets the requests of a slot's pull (answers arriving later are dropped).
  void CancelPull(PullSlot& slot);
  // Copies arrived answers of `slot` for blocks [first, last) into its buffer.
  Status TakePullReplies(PullSlot& slot, size_t first, size_t last);
  static constexpr uint64_t kNotSent = UINT64_MAX;
  Status SendPush(Block& b);
  // A free slot (or the one already into `dest`) for a new pull into it.
  PullSlot* SlotFor(float* dest);
  // SlotFor, with its earlier pull dropped and set up for `target`;
  // kFailedPrecondition if no slot is free.
  StatusOr<PullSlot*> ClaimSlot(const PullTarget& target);
  Status HandlePushAck(InMessage& in);
  // Times the pull answers and push acks received (Pump) since the last look.
  void NoteArrivals();

  std::vector<std::unique_ptr<Channel>> channels_;
  std::vector<Channel*> channel_ptrs_;
  std::vector<Block> blocks_;  // sorted by key, tiling the model
  PullSlot pulls_[2];
  // Current push.
  PushSpec push_;
  PullSlot* push_pull_ = nullptr;  // the pull the current push carries, once set up
  std::vector<Pending> push_acks_;
  uint32_t rank_ = 0;
  uint32_t generation_ = 0;
  uint64_t max_staleness_ = 0;
  bool pull_views_ = false;
  LatencyHistogram pull_latency_;
  LatencyHistogram push_latency_;
};

}  // namespace pst
