// pst::RequestHandler: a PS's answers to workers. It decodes each message
// (ps/ps_request.h), checks it against the current generation, applies pushes
// to the Shard and answers pulls from it; a pull the shard cannot serve yet
// (kUnavailable from Shard::CheckPull) is kept and answered by
// AnswerReadyPulls once the shard gets there. A malformed or out-of-place
// message gets an error reply and changes nothing; nothing here throws.
//
// Replies go out on the PS's ROUTER socket. Not thread-safe: the PS's serving
// thread owns it (Server::Run).
#pragma once

#include <cstdint>
#include <deque>
#include <zmq.hpp>

#include "common/client_table.h"
#include "common/key_range.h"
#include "common/log_throttle.h"
#include "common/wire.h"
#include "ps/ps_request.h"
#include "ps/shard.h"

namespace pst {

// The refusal of a request of generation `got` by a PS in generation `have`
// (a rollback happened; the worker restarts its step): kAborted.
Status StaleGeneration(uint32_t got, uint32_t have);

class RequestHandler {
 public:
  // `socket` (the PS's ROUTER) must outlive the handler, and so must
  // `clients` if given: a kept pull counts as a held request of its client
  // there, and a client at its limit gets kResourceExhausted instead.
  explicit RequestHandler(zmq::socket_t& socket, ClientTable* clients = nullptr)
      : socket_(socket), clients_(clients) {}
  RequestHandler(const RequestHandler&) = delete;
  RequestHandler& operator=(const RequestHandler&) = delete;

  // Answers every waiting pull kAborted: a new generation `next` begins and
  // they will never be answered with their generation's values.
  void AbortPendingPulls(uint32_t next);
  // Serves `shard` (owned by the caller, outliving its use here) for
  // `generation` from now on; requests of other generations get kAborted.
  void SetShard(Shard* shard, uint32_t generation);
  uint32_t generation() const { return generation_; }

  // Handles one received message. REQUIRES: SetShard was called.
  void Handle(InMessage& in);

  // Answers every waiting pull overlapping `changed` that the shard can now
  // serve (kAllKeys: every waiting pull, empty ones included), e.g. after a
  // roster change.
  static constexpr KeyRange kAllKeys{0, UINT64_MAX};
  void AnswerReadyPulls(KeyRange changed = kAllKeys);

  // Largest staleness seen when answering a pull: the puller's clock minus
  // the clocks every live worker had pushed (ASP/SSP; 0 under BSP).
  uint64_t max_staleness() const { return max_staleness_; }

 private:
  struct PendingPull {
    zmq::message_t identity;
    uint64_t request_id;
    KeyRange keys;
    uint64_t min_version;
    uint64_t clock;  // the puller's clock
    uint32_t rank;   // the puller (see Shard::HoldsPushOf)
  };
  void HandlePush(InMessage& in, const PushCall& push);
  // Answers a pull now, or keeps it until the shard can serve it; other
  // refusals are answered with their status.
  void AnswerPull(InMessage& in, uint64_t request_id, KeyRange keys, uint64_t min_version,
                  uint64_t clock, uint32_t rank);
  void FillPullResponse(uint64_t request_id, KeyRange keys, uint64_t clock, OutMessage& out);
  void Reply(zmq::message_t& identity, OutMessage& out);

  zmq::socket_t& socket_;
  ClientTable* clients_;
  Shard* shard_ = nullptr;
  uint32_t generation_ = 0;
  std::deque<PendingPull> pending_pulls_;
  uint64_t max_staleness_ = 0;
  LogThrottle rejected_log_;  // rejected pushes
};

}  // namespace pst
