// Fuzz target: a PS's request path, from the frames to the shard. The message
// is received as the PS receives it (common/wire.h), its push or pull request
// is applied to a real ps::Shard the way ps/server.cc applies it, and the
// shard's contract is checked: a request it rejects leaves every parameter
// and the version exactly as they were ("all checks before any state
// changes"), and a pull it accepts reads only keys inside the shard.
//
// The shard is made anew for every input (a 4-3-2 MLP, two workers, split in
// two blocks), so each input is reproducible on its own. The consistency
// model (BSP, ASP, SSP) is chosen by the input's size modulo 3.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <memory>
#include <vector>

#include "common/job_spec.h"
#include "common/key_range.h"
#include "common/model_layout.h"
#include "common/wire.h"
#include "ps/shard.h"
#include "tests/fuzz/frames.h"

namespace {

using pst::KeyRange;
using pst::Shard;

std::unique_ptr<Shard> MakeShard(pst::Consistency consistency) {
  pst::JobSpec job;
  job.model.layer_sizes = {4, 3, 2};
  job.train.consistency = consistency;
  job.train.staleness = 1;
  job.train.block_keys = 12;
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
  static pst::fuzz::Loopback* loopback = new pst::fuzz::Loopback();
  pst::InMessage in;
  pst::Status s = loopback->Deliver(pst::fuzz::SplitFrames(data, size), pst::WireLimits{}, &in);
  if (s.code() == pst::StatusCode::kDeadlineExceeded) std::abort();  // harness broken
  if (!s.ok()) return 0;

  static const pst::Consistency kModels[] = {pst::Consistency::kBsp, pst::Consistency::kAsp,
                                             pst::Consistency::kSsp};
  std::unique_ptr<Shard> shard = MakeShard(kModels[size % 3]);
  try {
    auto body = in.envelope().getBody();
    if (body.isPushRequest()) {
      auto req = body.getPushRequest();
      const KeyRange keys{req.getKeyBegin(), req.getKeyEnd()};
      if (in.num_bulk_frames() != 1) return 0;  // the server refuses these itself
      const std::vector<uint32_t> before = Snapshot(*shard);
      pst::Status pushed =
          req.getRetire() ? shard->Retire(req.getRank())
                          : shard->Push(req.getRank(), req.getClock(), keys, req.getSampleCount(),
                                        in.floats(0), in.num_floats(0));
      if (!pushed.ok()) Check(Snapshot(*shard) == before, "a rejected push changed the shard");
    } else if (body.isPullRequest()) {
      auto req = body.getPullRequest();
      const KeyRange keys{req.getKeyBegin(), req.getKeyEnd()};
      if (shard->CheckPull(keys, req.getMinVersion(), req.getRank()).ok()) {
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
  } catch (const kj::Exception&) {
    // Malformed text fields throw on access; the server answers kInvalidArgument.
  }
  return 0;
}
