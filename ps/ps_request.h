// The requests a parameter server answers, decoded from the wire into plain
// structs before anything acts on them (ps/request_handler.h does). Decoding
// only reads: it checks that the message is a well-formed PS request and
// copies its fields; what the fields mean (generation, roster, ranges, sizes)
// is checked by the handler and the shard. Functions here never throw.
#pragma once

#include <cstddef>
#include <cstdint>
#include <variant>

#include "common/key_range.h"
#include "common/status.h"
#include "common/wire.h"

namespace pst {

// A worker's push (proto PushRequest) and its value frame.
struct PushCall {
  uint64_t request_id = 0;
  uint32_t rank = 0;
  uint64_t clock = 0;
  uint32_t generation = 0;
  KeyRange keys;
  uint32_t sample_count = 0;
  bool retire = false;  // ASP/SSP: the worker pushes no more
  uint64_t data_order = 0;  // BSP: orders the clock's sum (see Shard::Push)
  // The value frames that came with it; vals/num_vals are frame 0's (null/0
  // without one). They point into the message, which must outlive the call.
  size_t num_frames = 0;
  const float* vals = nullptr;
  size_t num_vals = 0;
  // Push-and-pull: the answer is a pull of `keys` at version >=
  // pull_min_version for a worker at pull_clock (clock + 1 when the wire
  // says 0).
  bool then_pull = false;
  uint64_t pull_min_version = 0;
  uint64_t pull_clock = 0;
};

// A worker's pull (proto PullRequest).
struct PullCall {
  uint64_t request_id = 0;
  KeyRange keys;
  uint64_t min_version = 0;
  uint32_t rank = 0;
  uint64_t clock = 0;  // the puller's clock (staleness)
  uint32_t generation = 0;
};

using PsRequest = std::variant<PushCall, PullCall>;

// Decodes a message received by a PS. kInvalidArgument if it is not a push or
// pull ("a parameter server does not handle this message") or is malformed.
StatusOr<PsRequest> DecodePsRequest(const InMessage& in);

}  // namespace pst
