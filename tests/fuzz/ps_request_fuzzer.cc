// Fuzz target: a PS's dense request path, from the frames to the shard. The
// message is received as the PS receives it (common/wire.h) and decoded by
// DecodePsRequest (ps/ps_request.h), which must never throw. Its push or pull
// is then applied to a real Shard the way ps/request_handler.cc applies it,
// and the shard's contract is checked: a request it rejects leaves every
// parameter and the version exactly as they were ("all checks before any
// state changes"), and a pull it accepts reads only keys inside the shard.
// Last, the same message goes through a real RequestHandler on a second
// shard, replies included (they are read back and dropped).
//
// The shards are made anew for every input (a 16-16-2 MLP of 306 keys, two
// workers, split in two blocks), so each input is reproducible on its own. The consistency
// model (BSP, ASP, SSP) is chosen by the input's size modulo 3.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <memory>
#include <variant>
#include <vector>

#include "common/job_spec.h"
#include "common/key_range.h"
#include "common/model_layout.h"
#include "common/wire.h"
#include "ps/ps_request.h"
#include "ps/request_handler.h"
#include "ps/shard.h"
#include "tests/fuzz/frames.h"

namespace {

using pst::KeyRange;
using pst::Shard;

std::unique_ptr<Shard> MakeShard(pst::Consistency consistency) {
  pst::JobSpec job;
  job.model.layer_sizes = {16, 16, 2};
  job.train.consistency = consistency;
  job.train.staleness = 1;
  job.train.block_keys = 256;
  auto layout = pst::ModelLayout::FromSpec(job.model);
  if (!layout.ok()) std::abort();
  auto shard = Shard::Create(pst::MlpTables(job.model, *layout, job.optimizer), job.train,
                             KeyRange{0, layout->total()}, /*num_workers=*/2,
                             /*max_clocks_ahead=*/4);
  if (!shard.ok()) {
    std::cerr << "fuzz harness: " << shard.status().ToString() << "\n";
    std::abort();
  }
  return std::move(shard).value();
}

// Every parameter's bits and the version, to compare before and after.
std::vector<uint32_t> Snapshot(const Shard& shard) {
  const KeyRange r = shard.range();
  std::vector<uint32_t> bits(r.size() + 1);
  std::memcpy(bits.data(), shard.values(r), r.size() * sizeof(float));
  bits.back() = static_cast<uint32_t>(shard.version());
  return bits;
}

void Check(bool ok, const char* what) {
  if (ok) return;
  std::cerr << "ps_request_fuzzer: " << what << "\n";
  std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  pst::fuzz::Loopback& loopback = pst::fuzz::Loopback::Instance();
  pst::InMessage in;
  if (!loopback.Receive(data, size, &in)) return 0;

  static const pst::Consistency kModels[] = {pst::Consistency::kBsp, pst::Consistency::kAsp,
                                             pst::Consistency::kSsp};
  const pst::Consistency model = kModels[size % 3];
  // Throws nothing: an exception escaping here ends the run as a crash.
  const pst::StatusOr<pst::PsRequest> request = pst::DecodePsRequest(in);
  if (request.ok()) {
    std::unique_ptr<Shard> shard = MakeShard(model);
    if (const auto* push = std::get_if<pst::PushCall>(&*request)) {
      if (push->num_frames == 1) {  // the handler refuses the others itself
        const std::vector<uint32_t> before = Snapshot(*shard);
        pst::Status pushed = push->retire ? shard->Retire(push->rank)
                                          : shard->Push(push->rank, push->clock, push->keys,
                                                        push->sample_count, push->vals,
                                                        push->num_vals);
        if (!pushed.ok()) Check(Snapshot(*shard) == before, "a rejected push changed the shard");
      }
    } else {
      const auto& pull = std::get<pst::PullCall>(*request);
      const KeyRange keys = pull.keys;
      if (shard->CheckPull(keys, pull.min_version, pull.rank).ok()) {
        Check(keys.begin >= shard->range().begin && keys.end <= shard->range().end &&
                  keys.begin <= keys.end,
              "an accepted pull reaches outside the shard");
        float sum = 0;
        const float* v = shard->values(keys);
        for (uint64_t i = 0; i < keys.size(); ++i) sum += v[i];
        volatile float sink = sum;
        (void)sink;
      }
    }
  }
  // The whole serving path, as Server::Run drives it.
  std::unique_ptr<Shard> served = MakeShard(model);
  {
    pst::RequestHandler handler(loopback.server());
    handler.SetShard(served.get(), /*generation=*/0);
    handler.Handle(in);
    handler.AbortPendingPulls(1);
  }
  loopback.DrainReplies();
  return 0;
}
