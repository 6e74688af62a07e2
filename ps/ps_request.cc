#include "ps/ps_request.h"

#include <string>

namespace pst {

StatusOr<PsRequest> DecodePsRequest(const InMessage& in) {
  try {
    auto env = in.envelope();
    auto body = env.getBody();
    if (body.isPushRequest()) {
      auto req = body.getPushRequest();
      PushCall p;
      p.request_id = env.getRequestId();
      p.rank = req.getRank();
      p.clock = req.getClock();
      p.generation = req.getGeneration();
      p.keys = {req.getKeyBegin(), req.getKeyEnd()};
      p.sample_count = req.getSampleCount();
      p.retire = req.getRetire();
      p.data_order = req.getDataOrder();
      p.num_frames = in.num_bulk_frames();
      if (p.num_frames > 0) {
        p.vals = in.floats(0);
        p.num_vals = in.num_floats(0);
      }
      p.then_pull = req.getThenPull();
      p.pull_min_version = req.getPullMinVersion();
      p.pull_clock = req.getPullClock() != 0 ? req.getPullClock() : p.clock + 1;
      return PsRequest(p);
    }
    if (body.isPullRequest()) {
      auto req = body.getPullRequest();
      PullCall p;
      p.request_id = env.getRequestId();
      p.keys = {req.getKeyBegin(), req.getKeyEnd()};
      p.min_version = req.getMinVersion();
      p.rank = req.getRank();
      p.clock = req.getClock();
      p.generation = req.getGeneration();
      return PsRequest(p);
    }
    return Status::InvalidArgument("a parameter server does not handle this message");
  } catch (const kj::Exception& e) {
    return Status::InvalidArgument(std::string("malformed request: ") + e.getDescription().cStr());
  }
}

}  // namespace pst
