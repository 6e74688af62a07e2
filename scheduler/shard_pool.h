// pst::ShardPool: hands out data shards (contiguous slices of each epoch's
// sample order) to workers as leases, epoch after epoch, and keeps track of
// which samples of each epoch are trained, so that worker failures, elastic
// workers and rollbacks to a checkpoint neither skip nor repeat samples.
//
// Clocks. Every worker has a clock: one step (one batch, or one idle step
// under BSP) is one clock. A worker asks at clock c, the clock of its next
// step; a lease of L batches granted at c covers the worker's clocks
// [c, c + L): batch i of the lease is trained at clock c + i.
//
// Lockstep (BSP): the schedule is a function of clocks, so which samples are
// trained at which clock does not depend on message timing (with at least 2
// batches per shard). When every shard of the epoch is leased, askers idle
// until the epoch's last lease ends (clock X); the first ask at clock >= X
// closes the epoch (and asks for its evaluation at model version X) and opens
// the next. Completions are only bookkept.
//
// Without lockstep (ASP and SSP, where workers' clocks drift apart) nobody
// idles while there is data: once an epoch is fully leased, the next epoch's
// shards are leased right away, and an epoch closes (with an evaluation order
// for whoever asks next) once every lease of it is Complete()d or returned
// and nothing of it waits to be leased again. When nothing is left to lease
// but another worker's lease is still out (it comes back as a piece if that
// worker dies, possibly before its death is noticed), the asker idles: until
// the latest such lease's end clock, or one clock, and asks again. When
// nothing is left at all (or only the asker's own lease, asked for ahead),
// askers get kDone.
//
// Failures. A worker that dies or leaves is returned (ReturnWorker): the
// batches it trained count as done and the rest of its lease goes back to the
// pool as a "piece" (same epoch and shard, a smaller sample range). Pieces are
// leased before any new shard, lowest epoch first, and an epoch does not close
// while a piece of it waits or is being trained. Rollback(K) cuts every lease
// at clock K the same way. Epochs close in order in both modes, so an
// evaluation always sees every earlier epoch.
//
// The pool keeps the done parts of all leases (a few per shard and epoch, so
// the state grows with epochs x shards) so that a rollback to any earlier
// clock stays exact.
//
// Not thread-safe: the scheduler calls it from its one request thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <nlohmann/json_fwd.hpp>
#include <vector>

#include "common/status.h"

namespace pst {

struct ShardGrant {
  // kNone: nothing leased (the answer to EvaluationOnly).
  enum class Kind { kLease, kIdle, kDone, kNone };
  Kind kind = Kind::kIdle;
  uint32_t epoch = 0;
  uint32_t shard = 0;
  uint64_t sample_begin = 0;  // positions in the epoch's sample order
  uint64_t sample_end = 0;
  bool piece = false;       // kLease: a returned remainder, not a whole shard
  uint64_t idle_until = 0;  // kIdle: ask again at this clock
  bool evaluate = false;    // evaluate epoch eval_epoch's model (version eval_version)
  uint32_t eval_epoch = 0;
  uint64_t eval_version = 0;
};

// A lease as the pool sees it: `worker` trains samples [sample_begin,
// sample_end) of `epoch`'s order, one batch per clock in [start_clock,
// start_clock + batches).
struct ShardLease {
  uint32_t worker = 0;
  uint32_t epoch = 0;
  uint32_t shard = 0;
  uint64_t sample_begin = 0;
  uint64_t sample_end = 0;
  uint64_t start_clock = 0;
  uint64_t batches = 0;
  bool operator==(const ShardLease&) const = default;
};

class ShardPool {
 public:
  // REQUIRES: num_samples, batch_size, batches_per_shard, epochs >= 1, and at
  // most 2^32 - 1 shards per epoch.
  ShardPool(uint64_t num_samples, uint32_t batch_size, uint32_t batches_per_shard, uint32_t epochs,
            bool lockstep = true);

  // The next piece of work for `worker`, which is at `clock`. A kLease is
  // recorded as outstanding for that worker until Complete() or
  // ReturnWorker(). Any grant may carry an evaluation order. Without
  // failures the lockstep schedule is the one described above.
  ShardGrant Next(uint32_t worker, uint64_t clock);

  // Without lockstep: a grant of kind kNone that carries the next evaluation
  // order, if an epoch has closed since the last one was given (e.g. by a
  // Complete() just now), and leases nothing. Lets a worker report a finished
  // lease on its own, after asking for its next lease ahead, so that an epoch
  // closes, and is evaluated, as soon as its last lease is done.
  // REQUIRES: !lockstep() (lockstep epochs close by clock, at an ask).
  ShardGrant EvaluationOnly(uint64_t clock);

  // Transitional, for cli/local_trainer.cc, which runs every worker itself
  // and reports nothing: leases go to one anonymous worker (kAnonymousWorker)
  // and count as completed once `clock` reaches their end. Gives the same
  // lockstep schedule as Next(worker, clock). Prefer Next(worker, clock).
  ShardGrant Next(uint64_t clock);
  static constexpr uint32_t kAnonymousWorker = 0xffffffff;

  // `worker` trained its outstanding lease (or piece) of epoch/shard to the
  // end. Returns true the first time only; false for a duplicate (e.g. a
  // retried request), for a lease that was returned or cut by Rollback, and
  // for anything unknown. Count the lease's samples and loss only on true.
  // With several outstanding leases of the same epoch/shard, the oldest is
  // meant. Without lockstep this may close epochs. The key cannot tell a late
  // duplicate for a returned lease from the completion of a later piece of
  // the same shard leased to the same worker (a lease id on the wire would).
  bool Complete(uint32_t worker, uint32_t epoch, uint32_t shard);

  // `worker` died or left, having completed (pushed) every clock <
  // completed_clocks. For each of its outstanding leases, the batches at
  // those clocks are done and the rest goes back to the pool as a piece.
  // Returns the number of samples newly credited as done (to count them; the
  // loss of those batches is unknown). 0 for a worker without leases.
  // With lockstep, a piece of an epoch that already closed (its closing ask
  // came before the death was noticed) reopens that epoch and every later
  // one: they close, and are ordered evaluated, again. Their clocks then
  // overlap the next epoch's, which was already being leased.
  // Without lockstep, workers are told kDone only when no other worker's
  // lease is out, so a piece returned later is normally trained by a worker
  // that idles for it; one returned after every worker left waits for a
  // worker that joins (or asks) later.
  uint64_t ReturnWorker(uint32_t worker, uint64_t completed_clocks);

  // Rolls the pool back to clock K: the model now holds exactly the updates
  // of clocks < K from every worker (each worker's own clocks without
  // lockstep). After the call:
  //  - no lease is outstanding; every lease's batches at clocks < K are done
  //    (including those of leases never Complete()d: a later Complete() for
  //    them returns false and their samples are not counted again), and
  //    everything else is undone;
  //  - a shard is back behind the frontier (leased again as a new shard, with
  //    the same number) if nothing of it is done and nothing after it in
  //    lease order is done; every other undone range waits as a piece;
  //  - with lockstep, closures made by asks at clocks >= K are undone (the
  //    epoch closes again at the first ask at clock >= its last lease's end,
  //    normally K); without lockstep an epoch stays closed iff all of its
  //    samples are still done;
  //  - evaluation orders are given in epoch order; one stays given iff its
  //    epoch is still closed and it and every earlier one were handed out at
  //    asks at clocks < K; the others are given again;
  //  - with lockstep, the start clock of an epoch that stays open is kept.
  // The pool cannot take back an evaluation that was already run or
  // reported: with lockstep the scheduler must drop reports for versions > K
  // and expect a second report for epochs ordered again. Without lockstep
  // reports carry no version, so one in flight across the rollback cannot be
  // told from the new one. REQUIRES: every worker asks next at clock K.
  void Rollback(uint64_t clock_k);

  // The whole state, for storing it. Stable format "pst.shard_pool/1".
  nlohmann::json ToJson() const;
  // Rebuilds a pool from ToJson() output. Returns kInvalidArgument if `j` is
  // not of that shape (missing fields, wrong types, numbers out of range,
  // another format) and kDataLoss if it is but the state contradicts itself
  // (a sample range leased twice or missing, a closed epoch with work left).
  // Never aborts on bad input.
  static StatusOr<ShardPool> FromJson(const nlohmann::json& j);

  // Samples of `epoch` trained to the end of their batch and counted done
  // (finished leases, the done batches of returned or rolled-back ones): the
  // epoch's size once it closed, if nothing was skipped or counted twice.
  uint64_t DoneSamples(uint32_t epoch) const;

  // Outstanding leases, by worker and then in grant order.
  std::vector<ShardLease> OutstandingLeases() const;
  // Returned ranges waiting to be leased again.
  size_t pieces_waiting() const { return pieces_.size(); }

  uint64_t num_samples() const { return num_samples_; }
  uint32_t batch_size() const { return batch_size_; }
  uint32_t shards_per_epoch() const { return shards_per_epoch_; }
  bool lockstep() const { return lockstep_; }
  // Epoch whose new shards are being leased out.
  uint32_t epoch() const { return epoch_; }
  // True once the last epoch is closed and every evaluation order is given.
  bool finished() const { return closed_ == epochs_ && eval_handed_out_ == epochs_; }

 private:
  struct Piece {
    uint32_t epoch = 0;
    uint32_t shard = 0;
    uint64_t sample_begin = 0;
    uint64_t sample_end = 0;
  };
  struct EpochClocks {
    uint64_t start = 0;          // lockstep: the clock at which the epoch opened
    uint64_t end = 0;            // lockstep: max(start, ends of its leases); derived
    uint64_t close_version = 0;  // lockstep: evaluated model version
    uint64_t close_clock = 0;    // lockstep: clock of the ask that closed it
    uint64_t eval_clock = 0;     // clock of the ask that got its evaluation order
  };

  ShardGrant NextLockstep(uint32_t worker, uint64_t clock);
  ShardGrant NextFree(uint32_t worker, uint64_t clock);
  // Without lockstep, nothing to lease: kIdle while another worker's lease
  // is out, else kDone.
  ShardGrant WaitForOthers(uint32_t worker, uint64_t clock) const;
  ShardGrant Grant(uint32_t worker, uint64_t clock, uint32_t epoch, uint32_t shard, uint64_t begin,
                   uint64_t end, bool piece);
  ShardGrant GrantPiece(uint32_t worker, uint64_t clock, size_t i);
  void AttachEvaluation(ShardGrant& g, uint64_t clock);
  void CloseLockstep(uint64_t clock);
  void CloseFree();
  void Reopen(uint32_t epoch);
  void AddPiece(const Piece& p);
  void RecomputeEndClocks();

  uint64_t Batches(uint64_t begin, uint64_t end) const;
  uint64_t ShardBegin(uint32_t shard) const { return shard * shard_samples_; }
  uint64_t ShardEnd(uint32_t shard) const;
  // Shards are numbered epoch * shards_per_epoch + shard in lease order.
  uint64_t FrontierIndex() const { return uint64_t{epoch_} * shards_per_epoch_ + next_shard_; }
  void SetFrontier(uint64_t index);
  bool FullyLeased(uint32_t epoch) const {
    return epoch_ > epoch || (epoch_ == epoch && next_shard_ >= shards_per_epoch_);
  }
  bool HasPieces(uint32_t epoch) const;
  bool HasOutstanding(uint32_t epoch) const;

  uint64_t num_samples_;
  uint32_t batch_size_;
  uint32_t batches_per_shard_;
  uint64_t shard_samples_;
  uint32_t epochs_;
  uint32_t shards_per_epoch_;
  bool lockstep_;
  // Frontier: the next new shard is (epoch_, next_shard_); next_shard_ ==
  // shards_per_epoch_ means the epoch is fully leased. With lockstep the
  // frontier enters an epoch only when the previous one closes.
  uint32_t epoch_ = 0;
  uint32_t next_shard_ = 0;
  uint32_t closed_ = 0;           // epochs [0, closed_) are closed
  uint32_t eval_handed_out_ = 0;  // evaluation orders given for epochs [0, this)
  std::vector<EpochClocks> clocks_;
  std::vector<ShardLease> outstanding_;  // in grant order
  std::vector<ShardLease> done_;         // trained parts of finished leases
  std::vector<Piece> pieces_;            // sorted by (epoch, shard, sample_begin)
};

}  // namespace pst
