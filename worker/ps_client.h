// pst::PsClient: a worker's connections to every PS shard. Pull and push the
// whole model, split by the servers' key ranges (and into chunks of at most
// max_chunk keys); requests to all servers go out together and replies are
// gathered as they come. Pushes are fire-and-forget until WaitPushes(), so a
// worker can start the next pull while the previous push is in flight.
// Not thread-safe: one worker thread owns it.
#pragma once

#include <atomic>
#include <chrono>
#include <memory>
#include <vector>

#include <zmq.hpp>

#include "common/channel.h"
#include "common/registration.h"
#include "common/status.h"

namespace pst {

class PsClient {
 public:
  static StatusOr<std::unique_ptr<PsClient>> Connect(zmq::context_t& ctx,
                                                     const std::vector<ServerEntry>& servers,
                                                     uint64_t max_chunk,
                                                     const WireLimits& limits = {});

  // Fills params[0, total) with the model at version >= min_version. Blocks up
  // to `timeout` (kDeadlineExceeded naming the silent server) or until *stop.
  // Returns the smallest version among the answers. Uses the pull already
  // started for min_version, if there is one.
  StatusOr<uint64_t> Pull(uint64_t min_version, float* params, std::chrono::milliseconds timeout,
                          const std::atomic<bool>* stop);

  // Sends the pull requests for min_version now, so the servers can answer the
  // moment that version exists; a later Pull(min_version) collects the answers.
  // Drops a started pull for another version.
  Status StartPull(uint64_t min_version);

  // Sends gradient sums grad[0, total) over `samples` samples for `clock` to
  // every server without copying: `owner` keeps grad alive until sent, and the
  // caller must not modify it before WaitPushes() returns. samples == 0 sends an
  // empty "nothing this clock" push instead.
  Status Push(uint32_t rank, uint64_t clock, std::shared_ptr<const void> owner, const float* grad,
              uint32_t samples);

  // Waits for the acknowledgements of every push sent so far; returns the
  // first error a server reported.
  Status WaitPushes(std::chrono::milliseconds timeout, const std::atomic<bool>* stop);

 private:
  struct Target {
    std::unique_ptr<Channel> channel;
    KeyRange range;
    std::vector<KeyRange> chunks;
  };
  struct Pending {
    size_t server;
    uint64_t id;
  };
  explicit PsClient(std::vector<Target> targets) : targets_(std::move(targets)) {}
  // Waits until every request in `pending` has its reply; calls on_reply for each.
  Status Gather(std::vector<Pending>& pending, std::chrono::milliseconds timeout,
                const std::atomic<bool>* stop,
                const std::function<Status(const Pending&, InMessage&)>& on_reply);

  std::vector<Target> targets_;
  std::vector<Channel*> channels_;
  std::vector<Pending> pushes_;
  std::vector<Pending> pulls_;         // started, not yet collected
  uint64_t pulls_version_ = 0;         // min_version of pulls_
};

}  // namespace pst
