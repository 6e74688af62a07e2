#include "worker/sparse_client.h"

#include <cstring>
#include <utility>

namespace pst {
namespace {

// What a sparse pull and push request share: the table, the part's ids and the caller.
template <typename Builder>
void FillRequest(Builder req, const std::string& table, std::span<const uint64_t> ids,
                 const std::vector<uint32_t>& positions, const SparseCaller& caller) {
  req.setTable(table);
  auto list = req.initIds(uint32_t(positions.size()));
  for (uint32_t i = 0; i < positions.size(); ++i) list.set(i, ids[positions[i]]);
  req.setRank(caller.rank);
  req.setClock(caller.clock);
  req.setGeneration(caller.generation);
}

}  // namespace

StatusOr<std::unique_ptr<SparseClient>> SparseClient::Create(zmq::context_t& ctx,
                                                             const SparseClientOptions& options) {
  if (!options.slot_map || options.slot_map->num_shards() != options.endpoints.size()) {
    return Status::InvalidArgument("sparse client: need a slot map with one shard per endpoint");
  }
  if (options.max_ids_per_request == 0) {
    return Status::InvalidArgument("sparse client: max_ids_per_request must be at least 1");
  }
  std::vector<std::unique_ptr<Channel>> channels;
  for (const std::string& endpoint : options.endpoints) {
    PST_ASSIGN_OR_RETURN(auto channel, Channel::Connect(ctx, endpoint, {}, options.curve.get()));
    channels.push_back(std::move(channel));
  }
  return std::unique_ptr<SparseClient>(new SparseClient(options, std::move(channels)));
}

std::vector<SparseClient::Part> SparseClient::Split(std::span<const uint64_t> ids,
                                                    bool all) const {
  const SlotMap& map = *options_.slot_map;
  std::vector<std::vector<uint32_t>> by_shard(map.num_shards());
  for (uint32_t i = 0; i < ids.size(); ++i) by_shard[map.ShardOfId(ids[i])].push_back(i);
  std::vector<Part> parts;
  for (uint32_t shard = 0; shard < by_shard.size(); ++shard) {
    const std::vector<uint32_t>& pos = by_shard[shard];
    if (pos.empty() && all) parts.push_back({shard, {}});
    for (size_t begin = 0; begin < pos.size(); begin += options_.max_ids_per_request) {
      const size_t end = std::min(pos.size(), begin + options_.max_ids_per_request);
      parts.push_back({shard, std::vector<uint32_t>(pos.begin() + begin, pos.begin() + end)});
    }
  }
  return parts;
}

Status SparseClient::Pull(const std::string& table, std::span<const uint64_t> ids, uint32_t dim,
                          uint64_t min_version, const SparseCaller& caller, float* out) {
  std::vector<Part> parts = Split(ids, false);
  for (Part& part : parts) {
    OutMessage msg;
    auto req = msg.envelope().getBody().initSparsePullRequest();
    FillRequest(req, table, ids, part.positions, caller);
    req.setMinVersion(min_version);
    PST_ASSIGN_OR_RETURN(part.request_id, channels_[part.shard]->Send(msg));
  }
  return AwaitAll(parts, [&](const Part& part, InMessage& reply) {
    auto body = reply.envelope().getBody();
    if (!body.isSparsePullResponse()) return Status::Internal("sparse pull: unexpected reply");
    PST_RETURN_IF_ERROR(FromRpcStatus(body.getSparsePullResponse().getStatus()));
    const size_t n = part.positions.size() * size_t{dim};
    if (body.getSparsePullResponse().getDim() != dim || reply.num_bulk_frames() != 1 ||
        reply.num_floats(0) != n) {
      return Status::InvalidArgument("sparse pull of \"" + table + "\": the PS holds rows of " +
                                     std::to_string(body.getSparsePullResponse().getDim()) +
                                     " floats, not " + std::to_string(dim));
    }
    const float* rows = reply.floats(0);
    for (size_t i = 0; i < part.positions.size(); ++i) {
      std::memcpy(out + size_t(part.positions[i]) * dim, rows + i * dim, dim * sizeof(float));
    }
    return Status::OK();
  });
}

Status SparseClient::Push(const std::string& table, std::span<const uint64_t> ids, uint32_t dim,
                          const float* grads, uint32_t sample_count, const SparseCaller& caller) {
  std::vector<Part> parts = Split(ids, options_.push_to_every_shard);
  std::vector<float> gathered;
  for (Part& part : parts) {
    OutMessage msg;
    auto req = msg.envelope().getBody().initSparsePushRequest();
    FillRequest(req, table, ids, part.positions, caller);
    req.setSampleCount(sample_count);
    req.setDataOrder(caller.data_order);
    gathered.resize(part.positions.size() * size_t{dim});
    for (uint32_t i = 0; i < part.positions.size(); ++i) {
      std::memcpy(gathered.data() + size_t(i) * dim, grads + size_t(part.positions[i]) * dim,
                  dim * sizeof(float));
    }
    msg.AddFloatsCopy(gathered.data(), gathered.size());
    PST_ASSIGN_OR_RETURN(part.request_id, channels_[part.shard]->Send(msg));
  }
  return AwaitAll(parts, [](const Part&, InMessage& reply) {
    auto body = reply.envelope().getBody();
    return body.isSparsePushResponse() ? FromRpcStatus(body.getSparsePushResponse().getStatus())
                                       : Status::Internal("sparse push: unexpected reply");
  });
}

Status SparseClient::AwaitAll(const std::vector<Part>& parts,
                              const std::function<Status(const Part&, InMessage&)>& check) {
  Status first;
  for (const Part& part : parts) {
    auto reply = channels_[part.shard]->Await(part.request_id, options_.timeout, options_.interrupt);
    Status s = reply.ok() ? check(part, *reply) : reply.status();
    if (first.ok() && !s.ok()) first = s.WithContext(channels_[part.shard]->endpoint());
  }
  return first;
}

}  // namespace pst
