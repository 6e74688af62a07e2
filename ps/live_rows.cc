#include "ps/live_rows.h"

#include <utility>

namespace pst {
namespace {

template <typename T>
std::span<const std::byte> Bytes(const T* p, size_t n) {
  return {reinterpret_cast<const std::byte*>(p), n * sizeof(T)};
}

}  // namespace

LiveRows::LiveRows(std::vector<Chunk> chunks, uint32_t chunk_rows, size_t stride,
                   uint32_t free_step, std::vector<uint64_t> selected, uint64_t rows)
    : chunk_rows_(chunk_rows),
      stride_(stride),
      free_step_(free_step),
      selected_(std::move(selected)),
      rows_(rows),
      cow_(chunks.size()) {
  for (size_t c = 0; c < chunks.size(); ++c) {
    const Chunk& k = chunks[c];
    records_.push_back(k.records);
    cow_.Mark(c, {Bytes(k.ids, k.records), Bytes(k.last_steps, k.records),
                  Bytes(k.data, size_t{k.records} * stride)});
  }
}

Status LiveRows::ForEachRow(const std::function<Status(uint64_t, uint32_t, const float*)>& fn,
                            const std::function<Status()>& chunk_done) {
  for (size_t c = 0; c < cow_.size(); ++c) {
    PST_RETURN_IF_ERROR(cow_.Read(c, [&](const CopyOnWrite::Spans& s) -> Status {
      const auto* ids = reinterpret_cast<const uint64_t*>(s[0].data());
      const auto* last = reinterpret_cast<const uint32_t*>(s[1].data());
      const auto* data = reinterpret_cast<const float*>(s[2].data());
      const uint64_t base = uint64_t{c} * chunk_rows_;
      for (uint32_t j = 0; j < records_[c]; ++j) {
        const uint64_t r = base + j;
        const bool take = selected_.empty() ? last[j] != free_step_
                                            : (selected_[r >> 6] >> (r & 63)) & 1;
        if (take) PST_RETURN_IF_ERROR(fn(ids[j], last[j], data + size_t{j} * stride_));
      }
      return Status::OK();
    }));
    PST_RETURN_IF_ERROR(chunk_done());
  }
  return Status::OK();
}

}  // namespace pst
