// Answers sparse pulls and pushes (proto::SparsePullRequest / SparsePushRequest)
// that arrive on a PS's ROUTER socket: decodes them fully (ps/sparse_request.h),
// then applies them to its SparseShard and replies on the same socket. Under
// BSP a pull for a version the table has not reached is deferred and answered
// after the push that gets it there (at most kMaxDeferredPulls wait; beyond
// that pulls are refused with kResourceExhausted). Requests of another
// generation get kAborted. Nothing a peer sends crashes the server, creates
// rows in a table it does not name or grows memory beyond the limits. With a
// ClientTable (set_clients), deferred pulls count as held requests of their
// client and refusals by the ids limit are counted there.
// Not thread-safe: the server's loop thread calls it.
#pragma once

#include <atomic>
#include <cstdint>
#include <deque>
#include <memory>
#include <vector>

#include <zmq.hpp>

#include "common/client_table.h"
#include "common/log_throttle.h"
#include "common/status.h"
#include "common/table_spec.h"
#include "common/wire.h"
#include "ps/sparse_request.h"
#include "ps/sparse_shard.h"

namespace pst {

// The SparseShard options of server `server_rank` for a job's tables: its
// sparse ones, serving the ids whose slot `slot_map` gives to server_rank
// (what SparseHandler::ForJob serves; the in-process trainer builds the same
// shards). kInvalidArgument for a table sparse rows cannot serve.
StatusOr<SparseShardOptions> SparseShardOptionsForJob(const std::vector<TableSpec>& tables,
                                                      Consistency consistency,
                                                      uint32_t num_workers,
                                                      const SlotMap& slot_map,
                                                      uint32_t server_rank);

class SparseHandler {
 public:
  static constexpr size_t kMaxDeferredPulls = 4096;

  // kInvalidArgument for invalid shard options (see SparseShard::Create).
  static StatusOr<std::unique_ptr<SparseHandler>> Create(const SparseShardOptions& options,
                                                         const SparseRequestLimits& limits);
  // The handler of server `server_rank` for a job's tables: its sparse ones
  // (none is fine: every sparse request is then refused), serving the ids
  // whose slot `slot_map` (the scheduler's) gives to `server_rank`.
  // kInvalidArgument for a table sparse rows cannot serve, or a rank the map
  // has no shard for.
  static StatusOr<std::unique_ptr<SparseHandler>> ForJob(const std::vector<TableSpec>& tables,
                                                         Consistency consistency,
                                                         uint32_t num_workers,
                                                         const SlotMap& slot_map,
                                                         uint32_t server_rank,
                                                         const SparseRequestLimits& limits);
  SparseHandler(const SparseHandler&) = delete;
  SparseHandler& operator=(const SparseHandler&) = delete;

  // True for the request bodies Handle answers.
  static bool Handles(proto::Envelope::Body::Reader body);
  // Answers (or defers) the sparse request in `in`, whose identity frame
  // routes the reply on `socket`. REQUIRES: Handles(in's body).
  void Handle(InMessage& in, zmq::socket_t& socket, uint32_t generation);
  // Answers the deferred pulls whose table got to their version (after a
  // push, or a roster change that completed clocks).
  void AnswerReadyPulls(zmq::socket_t& socket);
  // Answers every deferred pull with `why` (a rollback or shutdown).
  void AbortDeferred(zmq::socket_t& socket, const Status& why);

  SparseShard& shard() { return *shard_; }
  size_t deferred_pulls() const { return deferred_.size(); }
  // The server's client table (outliving this handler), or null. Default: null.
  void set_clients(ClientTable* clients) { clients_ = clients; }

 private:
  struct Deferred {
    zmq::message_t identity;
    uint64_t request_id;
    SparsePullCall call;
  };
  SparseHandler(std::unique_ptr<SparseShard> shard, SparseRequestLimits limits)
      : shard_(std::move(shard)), limits_(limits) {}
  void HandlePull(InMessage& in, zmq::socket_t& socket, uint32_t generation,
                  const std::vector<FloatFrame>& frames);
  void HandlePush(InMessage& in, zmq::socket_t& socket, uint32_t generation,
                  const std::vector<FloatFrame>& frames);
  // Sends the rows (or the refusal) unless the table is not at the version
  // yet; returns false then.
  bool TryAnswer(Deferred& pull, zmq::socket_t& socket);

  std::unique_ptr<SparseShard> shard_;
  SparseRequestLimits limits_;
  std::deque<Deferred> deferred_;
  ClientTable* clients_ = nullptr;
  LogThrottle rejected_log_;  // rejected pulls and pushes
};

// Serves `handler` on the bound ROUTER socket until *stop is true (checked
// every 20 ms): every sparse request is answered, anything else gets an error
// reply. For a process or test that holds only sparse tables; pst::Server
// calls Handle from its own loop. kInternal for a socket error.
Status ServeSparseRequests(zmq::socket_t& router, SparseHandler& handler, uint32_t generation,
                           const std::atomic<bool>& stop, const WireLimits& limits = {});

}  // namespace pst
