#include "ps/admission_sketch.h"

#include <algorithm>
#include <string>

#include "common/hash.h"

namespace pst {

StatusOr<std::unique_ptr<AdmissionSketch>> AdmissionSketch::Create(uint32_t width) {
  if (width < 64 || width > (uint32_t{1} << 28) || (width & (width - 1)) != 0) {
    return Status::InvalidArgument("admission sketch width must be a power of two in [64, 2^28], "
                                   "got " + std::to_string(width));
  }
  return std::unique_ptr<AdmissionSketch>(new AdmissionSketch(width));
}

AdmissionSketch::AdmissionSketch(uint32_t width)
    : width_(width), counters_(new uint8_t[size_t{kDepth} * width]()) {}

size_t AdmissionSketch::Cell(int row, uint64_t id) const {
  // One independent hash per row: Mix64 of the id under a per-row salt.
  const uint64_t h = Mix64(id ^ (0xad31'5510'0000'0000ull + uint64_t(row) * 0x9e37'79b9ull));
  return size_t(row) * width_ + (h & (width_ - 1));
}

uint32_t AdmissionSketch::Estimate(uint64_t id) const {
  size_t cells[kDepth];
  return CellsOf(id, cells);
}

uint32_t AdmissionSketch::CellsOf(uint64_t id, size_t* cells) const {
  uint32_t est = kMaxCount;
  for (int r = 0; r < kDepth; ++r) {
    cells[r] = Cell(r, id);
    est = std::min<uint32_t>(est, counters_[cells[r]]);
  }
  return est;
}

uint32_t AdmissionSketch::Add(uint64_t id) {
  size_t cells[kDepth];
  uint32_t est = CellsOf(id, cells);
  if (est < kMaxCount) {
    // Conservative update: raise only the counters at the minimum, which keeps
    // the overestimate of other ids as small as the minimum allows.
    for (int r = 0; r < kDepth; ++r) {
      if (counters_[cells[r]] == est) counters_[cells[r]] = uint8_t(est + 1);
    }
    ++est;
  }
  if (++sightings_since_halving_ >= kHalveAfterPerCounter * width_) {
    for (size_t i = 0; i < size_t{kDepth} * width_; ++i) counters_[i] >>= 1;
    sightings_since_halving_ = 0;
    ++halvings_;
  }
  return est;
}

void AdmissionSketch::Forget(uint64_t id) {
  size_t cells[kDepth];
  const uint32_t est = CellsOf(id, cells);
  for (int r = 0; r < kDepth; ++r) counters_[cells[r]] = uint8_t(counters_[cells[r]] - est);
}

}  // namespace pst
