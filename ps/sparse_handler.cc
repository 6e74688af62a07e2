#include "ps/sparse_handler.h"

#include <string>
#include <utility>

#include <kj/exception.h>

#include "common/log.h"
#include "ps/sparse_table_spec.h"

namespace pst {
namespace {

Status StaleGeneration(uint32_t got, uint32_t have) {
  return Status::Aborted("generation " + std::to_string(got) + " is not the current " +
                         std::to_string(have) + " (the job rolled back to a checkpoint)");
}

void Send(zmq::socket_t& socket, OutMessage& out, const zmq::message_t& identity) {
  Status s = SendMessage(socket, out, &identity);
  // A worker that went away cannot be answered; nothing to undo.
  if (!s.ok()) PST_LOG_DEBUG("sparse reply dropped: {}", s.message());
}

void ReplyPullStatus(zmq::socket_t& socket, const zmq::message_t& identity, uint64_t id,
                     const Status& s) {
  OutMessage out;
  out.envelope().setRequestId(id);
  SetRpcStatus(s, out.envelope().getBody().initSparsePullResponse().initStatus());
  Send(socket, out, identity);
}

}  // namespace

StatusOr<std::unique_ptr<SparseHandler>> SparseHandler::Create(const SparseShardOptions& options,
                                                               const SparseRequestLimits& limits) {
  PST_ASSIGN_OR_RETURN(auto shard, SparseShard::Create(options));
  return std::unique_ptr<SparseHandler>(new SparseHandler(std::move(shard), limits));
}

StatusOr<SparseShardOptions> SparseShardOptionsForJob(const std::vector<TableSpec>& tables,
                                                      Consistency consistency,
                                                      uint32_t num_workers,
                                                      const SlotMap& slot_map,
                                                      uint32_t server_rank) {
  SparseShardOptions o;
  for (const TableSpec& t : tables) {
    if (t.kind != TableKind::kSparse) continue;
    PST_ASSIGN_OR_RETURN(SparseTableOptions table, SparseTableOptionsFromSpec(t));
    o.tables.push_back(std::move(table));
  }
  o.consistency = consistency;
  o.num_workers = std::max<uint32_t>(1, num_workers);
  o.slot_map = slot_map;
  o.shard = server_rank;
  return o;
}

StatusOr<std::unique_ptr<SparseHandler>> SparseHandler::ForJob(
    const std::vector<TableSpec>& tables, Consistency consistency, uint32_t num_workers,
    const SlotMap& slot_map, uint32_t server_rank, const SparseRequestLimits& limits) {
  PST_ASSIGN_OR_RETURN(SparseShardOptions o, SparseShardOptionsForJob(tables, consistency,
                                                                      num_workers, slot_map,
                                                                      server_rank));
  return Create(o, limits);
}

bool SparseHandler::Handles(proto::Envelope::Body::Reader body) {
  return body.isSparsePullRequest() || body.isSparsePushRequest();
}

void SparseHandler::Handle(InMessage& in, zmq::socket_t& socket, uint32_t generation) {
  std::vector<FloatFrame> frames(in.num_bulk_frames());
  for (size_t i = 0; i < frames.size(); ++i) frames[i] = {in.floats(i), in.num_floats(i)};
  try {
    if (in.envelope().getBody().isSparsePullRequest()) {
      HandlePull(in, socket, generation, frames);
    } else {
      HandlePush(in, socket, generation, frames);
    }
  } catch (const kj::Exception& e) {
    OutMessage out;
    out.envelope().setRequestId(in.envelope().getRequestId());
    SetRpcStatus(Status::InvalidArgument(std::string("malformed sparse request: ") +
                                         e.getDescription().cStr()),
                 out.envelope().getBody().initError());
    Send(socket, out, in.identity());
  }
}

void SparseHandler::HandlePull(InMessage& in, zmq::socket_t& socket, uint32_t generation,
                               const std::vector<FloatFrame>& frames) {
  const uint64_t id = in.envelope().getRequestId();
  auto req = in.envelope().getBody().getSparsePullRequest();
  if (req.getGeneration() != generation) {
    ReplyPullStatus(socket, in.identity(), id, StaleGeneration(req.getGeneration(), generation));
    return;
  }
  auto call = DecodeSparsePull(req, frames, *shard_, limits_);
  if (call.status().code() == StatusCode::kResourceExhausted && clients_) clients_->CountIdsRefusal();
  if (!call.ok()) {
    if (std::string more; rejected_log_.Note(LogThrottle::Clock::now(), &more))
      PST_LOG_WARN("rejected sparse pull: {}{}", call.status().message(), more);
    ReplyPullStatus(socket, in.identity(), id, call.status());
    return;
  }
  Deferred pull{std::move(in.identity()), id, std::move(call).value()};
  if (TryAnswer(pull, socket)) return;
  if (deferred_.size() >= kMaxDeferredPulls) {
    ReplyPullStatus(socket, pull.identity, id,
                    Status::ResourceExhausted("too many sparse pulls are waiting"));
    return;
  }
  if (clients_) {
    if (Status held = clients_->Hold(pull.identity); !held.ok()) {
      ReplyPullStatus(socket, pull.identity, id, held);
      return;
    }
  }
  deferred_.push_back(std::move(pull));
}

void SparseHandler::HandlePush(InMessage& in, zmq::socket_t& socket, uint32_t generation,
                               const std::vector<FloatFrame>& frames) {
  auto req = in.envelope().getBody().getSparsePushRequest();
  Status s;
  if (req.getGeneration() != generation) {
    s = StaleGeneration(req.getGeneration(), generation);
  } else {
    auto call = DecodeSparsePush(req, frames, *shard_, limits_);
    if (call.status().code() == StatusCode::kResourceExhausted && clients_)
      clients_->CountIdsRefusal();
    s = call.ok() ? shard_->Push(call->rank, call->clock, *call->table, call->ids, call->grads,
                                 call->sample_count, call->data_order)
                  : call.status();
  }
  if (std::string more; !s.ok() && rejected_log_.Note(LogThrottle::Clock::now(), &more))
    PST_LOG_WARN("rejected sparse push from worker {}: {}{}", req.getRank(), s.message(), more);
  OutMessage out;
  out.envelope().setRequestId(in.envelope().getRequestId());
  SetRpcStatus(s, out.envelope().getBody().initSparsePushResponse().initStatus());
  Send(socket, out, in.identity());
  if (s.ok() && !deferred_.empty()) AnswerReadyPulls(socket);
}

bool SparseHandler::TryAnswer(Deferred& pull, zmq::socket_t& socket) {
  SparseTable& table = *pull.call.table;
  auto rows = std::make_shared<std::vector<float>>(pull.call.ids.size() * table.dim());
  Status s = shard_->Pull(table, pull.call.ids, pull.call.min_version, rows->data());
  if (s.code() == StatusCode::kUnavailable) return false;
  OutMessage out;
  out.envelope().setRequestId(pull.request_id);
  auto resp = out.envelope().getBody().initSparsePullResponse();
  SetRpcStatus(s, resp.initStatus());
  resp.setDim(table.dim());
  resp.setVersion(shard_->version(table));
  if (s.ok()) out.AddFloatsZeroCopy(rows, rows->data(), rows->size());
  Send(socket, out, pull.identity);
  return true;
}

void SparseHandler::AnswerReadyPulls(zmq::socket_t& socket) {
  for (auto it = deferred_.begin(); it != deferred_.end();) {
    if (TryAnswer(*it, socket)) {
      if (clients_) clients_->Release(it->identity);
      it = deferred_.erase(it);
    } else {
      ++it;
    }
  }
}

void SparseHandler::AbortDeferred(zmq::socket_t& socket, const Status& why) {
  for (Deferred& d : deferred_) {
    ReplyPullStatus(socket, d.identity, d.request_id, why);
    if (clients_) clients_->Release(d.identity);
  }
  deferred_.clear();
}

Status ServeSparseRequests(zmq::socket_t& router, SparseHandler& handler, uint32_t generation,
                           const std::atomic<bool>& stop, const WireLimits& limits) {
  while (!stop.load()) {
    Status ready = WaitReadable(router, std::chrono::milliseconds(20));
    if (ready.code() == StatusCode::kDeadlineExceeded) continue;
    PST_RETURN_IF_ERROR(ready);
    for (;;) {
      InMessage in;
      Status s = RecvMessage(router, true, limits, &in);
      if (s.code() == StatusCode::kUnavailable) break;
      bool sparse = false;
      if (s.ok()) {
        try {
          sparse = SparseHandler::Handles(in.envelope().getBody());
        } catch (const kj::Exception& e) {
          s = Status::InvalidArgument(std::string("malformed request: ") +
                                      e.getDescription().cStr());
        }
      }
      if (sparse) {
        handler.Handle(in, router, generation);
        continue;
      }
      if (in.identity().size() == 0) continue;  // nobody to answer
      OutMessage out;
      if (s.ok()) out.envelope().setRequestId(in.envelope().getRequestId());
      SetRpcStatus(s.ok() ? Status::InvalidArgument("this server answers sparse requests only") : s,
                   out.envelope().getBody().initError());
      Send(router, out, in.identity());
    }
  }
  return Status::OK();
}

}  // namespace pst
