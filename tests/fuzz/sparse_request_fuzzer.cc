// Fuzz target: a PS's sparse request path (ps/sparse_request.h,
// ps/sparse_handler.h). The message is received as the PS receives it
// (common/wire.h); a sparse pull or push is decoded against a real SparseShard
// (which must never throw: an exception escaping is a crash here) and what
// decodes is checked: a known table, ids unique and owned by this shard, at
// most the limit, and for a push exactly ids x dim finite gradients. Then the
// same message goes through a real SparseHandler, which applies it and replies
// (replies are read back and dropped).
//
// The shard is made anew for every input, so each input is reproducible on
// its own: tables "user" (dim 4, adagrad) and "item" (dim 2, ftrl, admission
// after 2 sightings, at most 64 rows), this shard holding half of 16 slots;
// two workers; BSP, ASP or SSP by the input's size modulo 3.
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <iostream>
#include <memory>
#include <span>
#include <vector>

#include "common/slot_map.h"
#include "common/wire.h"
#include "ps/sparse_handler.h"
#include "ps/sparse_request.h"
#include "tests/fuzz/frames.h"

namespace {

void Check(bool ok, const char* what) {
  if (ok) return;
  std::cerr << "sparse_request_fuzzer: " << what << "\n";
  std::abort();
}

constexpr pst::SparseRequestLimits kLimits{/*max_ids=*/256};

std::unique_ptr<pst::SparseHandler> MakeHandler(pst::Consistency consistency) {
  pst::SparseShardOptions o;
  pst::SparseTableOptions user;
  user.name = "user";
  user.dim = 4;
  pst::SparseTableOptions item;
  item.name = "item";
  item.dim = 2;
  item.optimizer.name = "ftrl";
  item.admit_after = 2;
  item.admission_sketch_width = 1024;
  item.max_rows = 64;
  o.tables = {user, item};
  o.consistency = consistency;
  o.num_workers = 2;
  auto map = pst::SlotMap::Even(16, 2);
  if (!map.ok()) std::abort();
  o.slot_map = std::move(map).value();
  o.shard = 0;
  auto handler = pst::SparseHandler::Create(o, kLimits);
  if (!handler.ok()) {
    std::cerr << "fuzz harness: " << handler.status().ToString() << "\n";
    std::abort();
  }
  return std::move(handler).value();
}

template <typename Call>
void CheckIds(const Call& call, pst::SparseShard& shard) {
  Check(call.table != nullptr && shard.FindTable(call.table->name()) == call.table,
        "a decoded request names no table of this shard");
  Check(call.ids.size() <= kLimits.max_ids, "more ids decoded than the limit");
  Check(!pst::FindRepeatedId(call.ids), "a decoded request repeats an id");
  Check(shard.CheckOwned(call.ids).ok(), "a decoded request holds another shard's id");
}

// Decodes the request of `body` directly and checks what decodes.
void DecodeAndCheck(pst::proto::Envelope::Body::Reader body,
                    const std::vector<pst::FloatFrame>& frames, pst::SparseShard& shard) {
  if (body.isSparsePullRequest()) {
    auto call = pst::DecodeSparsePull(body.getSparsePullRequest(), frames, shard, kLimits);
    if (!call.ok()) return;
    CheckIds(*call, shard);
    Check(frames.empty(), "a pull with value frames decoded");
    return;
  }
  auto call = pst::DecodeSparsePush(body.getSparsePushRequest(), frames, shard, kLimits);
  if (!call.ok()) return;
  CheckIds(*call, shard);
  const size_t n = call->ids.size() * call->table->dim();
  Check(frames.size() == 1 && frames[0].size == n, "a push's gradients do not fit its ids");
  for (size_t i = 0; i < n; ++i) Check(std::isfinite(call->grads[i]), "a gradient is not finite");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  pst::fuzz::Loopback& loopback = pst::fuzz::Loopback::Instance();
  pst::InMessage in;
  if (!loopback.Receive(data, size, &in)) return 0;
  auto body = in.envelope().getBody();
  if (!pst::SparseHandler::Handles(body)) return 0;

  static const pst::Consistency kModels[] = {pst::Consistency::kBsp, pst::Consistency::kAsp,
                                             pst::Consistency::kSsp};
  std::unique_ptr<pst::SparseHandler> handler = MakeHandler(kModels[size % 3]);
  pst::SparseShard& shard = handler->shard();
  std::vector<pst::FloatFrame> frames(in.num_bulk_frames());
  for (size_t i = 0; i < frames.size(); ++i) frames[i] = {in.floats(i), in.num_floats(i)};
  try {
    DecodeAndCheck(body, frames, shard);
  } catch (const kj::Exception&) {
    // Only reading the request's own pointer can throw here (the decoders
    // catch the rest); the handler answers such a message kInvalidArgument.
  }
  handler->Handle(in, loopback.server(), /*generation=*/0);
  handler->AbortDeferred(loopback.server(), pst::Status::Aborted("fuzz input done"));
  loopback.DrainReplies();
  return 0;
}
