// Decoding of sparse pulls and pushes (proto::SparsePullRequest,
// proto::SparsePushRequest) against the tables of a SparseShard. Everything is
// checked before anything is handed to the shard: the table exists, the id
// count is within the limit, ids are unique and served by this shard, and a
// push carries exactly one frame of ids x dim finite floats. So a peer can
// neither create rows in a table it does not name, nor in another shard's
// slots, nor make the server allocate beyond the limits. No function here
// throws: capnp's exceptions become kInvalidArgument.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <vector>

#include "common/status.h"
#include "proto/ps.capnp.h"
#include "ps/sparse_shard.h"

namespace pst {

struct SparseRequestLimits {
  // Most ids in one sparse pull or push; larger batches are split by the
  // client. Default: 2^18.
  uint32_t max_ids = uint32_t{1} << 18;
};

// A float frame received next to the envelope.
struct FloatFrame {
  const float* data = nullptr;
  size_t size = 0;
};

struct SparsePullCall {
  SparseTable* table = nullptr;
  std::vector<uint64_t> ids;
  uint64_t min_version = 0;
  uint32_t rank = 0;
  uint64_t clock = 0;
  uint32_t generation = 0;
};

struct SparsePushCall {
  SparseTable* table = nullptr;
  std::vector<uint64_t> ids;
  const float* grads = nullptr;  // ids.size() * dim floats, in the received frame
  uint32_t rank = 0;
  uint64_t clock = 0;
  uint32_t sample_count = 0;
  uint32_t generation = 0;
  uint64_t data_order = 0;  // BSP: orders the clock's sum (see SparseShard::Push)
};

// kNotFound for an unknown table (naming the known ones); kResourceExhausted
// for more than limits.max_ids ids; kInvalidArgument for a repeated id, an id
// of another shard, any float frame, or a malformed message.
StatusOr<SparsePullCall> DecodeSparsePull(proto::SparsePullRequest::Reader req,
                                          std::span<const FloatFrame> frames, SparseShard& shard,
                                          const SparseRequestLimits& limits);

// As DecodeSparsePull, and kInvalidArgument unless there is exactly one frame
// of ids.size() * dim floats, all finite, and sample_count > 0 when there are ids.
StatusOr<SparsePushCall> DecodeSparsePush(proto::SparsePushRequest::Reader req,
                                          std::span<const FloatFrame> frames, SparseShard& shard,
                                          const SparseRequestLimits& limits);

// The first id that occurs twice, if any. O(n) expected time, O(n) scratch.
std::optional<uint64_t> FindRepeatedId(std::span<const uint64_t> ids);

}  // namespace pst
