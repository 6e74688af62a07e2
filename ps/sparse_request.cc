#include "ps/sparse_request.h"

#include <cmath>
#include <string>

#include <kj/exception.h>

#include "common/hash.h"

namespace pst {
namespace {

// Table and ids of a pull or push: the checks both share.
template <typename Reader>
Status DecodeTableAndIds(Reader req, SparseShard& shard, const SparseRequestLimits& limits,
                         SparseTable** table, std::vector<uint64_t>* ids) {
  // The size limit first: nothing is looked at in a request over it.
  const auto list = req.getIds();
  if (list.size() > limits.max_ids) {
    return Status::ResourceExhausted("too many ids in one request: " +
                                     std::to_string(list.size()) + " > " +
                                     std::to_string(limits.max_ids) +
                                     " (network.max_ids_per_request); split the batch");
  }
  const auto name = req.getTable();
  *table = shard.FindTable(std::string_view(name.cStr(), name.size()));
  if (*table == nullptr) {
    std::string known;
    for (const std::string& n : shard.table_names()) known += (known.empty() ? "" : ", ") + n;
    return Status::NotFound("unknown sparse table \"" + std::string(name.cStr()) +
                            "\" (this job's tables: " + (known.empty() ? "none" : known) + ")");
  }
  ids->resize(list.size());
  for (uint32_t i = 0; i < list.size(); ++i) (*ids)[i] = list[i];
  if (auto repeated = FindRepeatedId(*ids)) {
    return Status::InvalidArgument("id " + std::to_string(*repeated) +
                                   " is listed twice; send each id once per request");
  }
  return shard.CheckOwned(*ids);
}

template <typename Reader, typename Call>
void CopyCaller(Reader req, Call* call) {
  call->rank = req.getRank();
  call->clock = req.getClock();
  call->generation = req.getGeneration();
}

Status Malformed(const char* what, const kj::Exception& e) {
  return Status::InvalidArgument(std::string(what) + ": malformed: " + e.getDescription().cStr());
}

}  // namespace

std::optional<uint64_t> FindRepeatedId(std::span<const uint64_t> ids) {
  if (ids.size() < 2) return std::nullopt;
  size_t capacity = 16;
  while (capacity < 2 * ids.size()) capacity *= 2;
  std::vector<uint64_t> keys(capacity);
  std::vector<bool> used(capacity);
  for (uint64_t id : ids) {
    for (size_t pos = Mix64(id) & (capacity - 1);; pos = (pos + 1) & (capacity - 1)) {
      if (!used[pos]) {
        used[pos] = true;
        keys[pos] = id;
        break;
      }
      if (keys[pos] == id) return id;
    }
  }
  return std::nullopt;
}

StatusOr<SparsePullCall> DecodeSparsePull(proto::SparsePullRequest::Reader req,
                                          std::span<const FloatFrame> frames, SparseShard& shard,
                                          const SparseRequestLimits& limits) {
  try {
    SparsePullCall call;
    PST_RETURN_IF_ERROR(
        DecodeTableAndIds(req, shard, limits, &call.table, &call.ids).WithContext("sparse pull"));
    if (!frames.empty()) {
      return Status::InvalidArgument("sparse pull: expected no value frames, got " +
                                     std::to_string(frames.size()));
    }
    call.min_version = req.getMinVersion();
    CopyCaller(req, &call);
    return call;
  } catch (const kj::Exception& e) {
    return Malformed("sparse pull", e);
  }
}

StatusOr<SparsePushCall> DecodeSparsePush(proto::SparsePushRequest::Reader req,
                                          std::span<const FloatFrame> frames, SparseShard& shard,
                                          const SparseRequestLimits& limits) {
  try {
    SparsePushCall call;
    PST_RETURN_IF_ERROR(
        DecodeTableAndIds(req, shard, limits, &call.table, &call.ids).WithContext("sparse push"));
    const uint64_t dim = call.table->dim();
    if (frames.size() != 1) {
      return Status::InvalidArgument("sparse push: expected one gradient frame, got " +
                                     std::to_string(frames.size()));
    }
    if (frames[0].size != call.ids.size() * dim) {
      return Status::InvalidArgument(
          "sparse push: " + std::to_string(frames[0].size) + " gradient values for " +
          std::to_string(call.ids.size()) + " ids of table \"" + call.table->name() +
          "\" (dim " + std::to_string(dim) + ") instead of " +
          std::to_string(call.ids.size() * dim));
    }
    for (size_t i = 0; i < frames[0].size; ++i) {
      if (!std::isfinite(frames[0].data[i])) {
        return Status::InvalidArgument("sparse push: gradient of id " +
                                       std::to_string(call.ids[i / dim]) + " is not finite");
      }
    }
    call.sample_count = req.getSampleCount();
    call.data_order = req.getDataOrder();
    if (call.sample_count == 0 && !call.ids.empty()) {
      return Status::InvalidArgument("sparse push: gradients with a sample count of 0");
    }
    call.grads = frames[0].data;
    CopyCaller(req, &call);
    return call;
  } catch (const kj::Exception& e) {
    return Malformed("sparse push", e);
  }
}

}  // namespace pst
