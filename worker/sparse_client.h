// A worker's client for sparse embedding tables: pulls and pushes the rows of
// a batch's unique ids from and to the PS that own them (each id's virtual
// slot, through the job's slot map, names its shard). A call is split into one
// request per shard (and per SparseClientOptions::max_ids_per_request ids),
// sent pipelined on one DEALER channel per PS, and the answers are put back in
// the caller's id order. Not thread-safe: one thread owns a client.
// EXPERIMENTAL: folds into PsClient once that serves tables of both kinds.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include <zmq.hpp>

#include "common/channel.h"
#include "common/cluster_keys.h"
#include "common/slot_map.h"
#include "common/status.h"

namespace pst {

struct SparseClientOptions {
  // Endpoint of each PS, indexed by shard (as the slot map numbers them). Required.
  std::vector<std::string> endpoints;
  // The job's slot map; its num_shards() must equal endpoints.size(). Required.
  std::optional<SlotMap> slot_map;
  // Most ids per request (keep at or below the PS's limit). Default: 2^18.
  uint32_t max_ids_per_request = uint32_t{1} << 18;
  // BSP: every push goes to every shard, with no ids where the batch has none,
  // as each shard waits for every worker's push of a clock. Default: false.
  bool push_to_every_shard = false;
  // Bound on waiting for each answer. Default: 30 s.
  std::chrono::milliseconds timeout{30000};
  // Ends every wait for an answer with kCancelled when set (a rollback: a PS
  // that died never answers). May be null. Default: null.
  const std::atomic<bool>* interrupt = nullptr;
  // The cluster's keys: every connection uses CurveZMQ with them (see
  // common/cluster_keys.h). Null: plain TCP. Default: null.
  std::shared_ptr<const ClusterKeys> curve;
};

// Who is asking: sent with every request.
struct SparseCaller {
  uint32_t rank = 0;
  uint64_t clock = 0;
  uint32_t generation = 0;
  // Pushes under BSP: where the batch lies in the job's data order (see
  // proto PushRequest.dataOrder). Default: 0.
  uint64_t data_order = 0;
};

class SparseClient {
 public:
  // kInvalidArgument for a missing slot map, a shard count that differs from
  // the endpoints or an endpoint ZeroMQ cannot parse.
  static StatusOr<std::unique_ptr<SparseClient>> Create(zmq::context_t& ctx,
                                                        const SparseClientOptions& options);
  SparseClient(const SparseClient&) = delete;
  SparseClient& operator=(const SparseClient&) = delete;

  // Writes the rows of ids (unique) of `table` (rows of `dim` floats) to
  // out[i * dim, (i + 1) * dim), once each shard's table is at min_version.
  // Returns the first error a PS answered (kInvalidArgument for a dim that is
  // not the table's), kDeadlineExceeded if one did not answer in time.
  Status Pull(const std::string& table, std::span<const uint64_t> ids, uint32_t dim,
              uint64_t min_version, const SparseCaller& caller, float* out);
  // Pushes gradient sums grads[i * dim, (i + 1) * dim) of ids (unique) over
  // sample_count samples. Errors as Pull.
  Status Push(const std::string& table, std::span<const uint64_t> ids, uint32_t dim,
              const float* grads, uint32_t sample_count, const SparseCaller& caller);

 private:
  // One request's share of a call: positions into the caller's ids.
  struct Part {
    uint32_t shard;
    std::vector<uint32_t> positions;
    uint64_t request_id = 0;
  };
  SparseClient(SparseClientOptions options, std::vector<std::unique_ptr<Channel>> channels)
      : options_(std::move(options)), channels_(std::move(channels)) {}
  // Splits ids by shard and request size (every shard at least once if `all`).
  std::vector<Part> Split(std::span<const uint64_t> ids, bool all) const;
  // Awaits every part's answer and checks it; returns the first error (with
  // its PS's endpoint) after all answers are in or timed out.
  Status AwaitAll(const std::vector<Part>& parts,
                  const std::function<Status(const Part&, InMessage&)>& check);

  SparseClientOptions options_;
  std::vector<std::unique_ptr<Channel>> channels_;
};

}  // namespace pst
