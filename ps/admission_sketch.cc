#include "ps/admission_sketch.h"

#include <algorithm>
#include <bit>
#include <cstring>
#include <string>

#include "common/hash.h"

namespace pst {

StatusOr<std::unique_ptr<AdmissionSketch>> AdmissionSketch::Create(uint32_t width) {
  if (width < 64 || width > (uint32_t{1} << 28) || (width & (width - 1)) != 0) {
    return Status::InvalidArgument(
        "admission sketch width must be a power of two in [64, 2^28], "
        "got " +
        std::to_string(width));
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

std::string AdmissionSketch::Serialize() const {
  static_assert(std::endian::native == std::endian::little);
  const size_t cells = size_t{kDepth} * width_;
  std::string out(4 + 8 + 8 + cells, '\0');
  std::memcpy(out.data(), &width_, 4);
  std::memcpy(out.data() + 4, &sightings_since_halving_, 8);
  std::memcpy(out.data() + 12, &halvings_, 8);
  std::memcpy(out.data() + 20, counters_.get(), cells);
  return out;
}

Status AdmissionSketch::Load(std::string_view bytes) {
  uint32_t width = 0;
  if (bytes.size() >= 4) std::memcpy(&width, bytes.data(), 4);
  if (bytes.size() < 20 || width != width_ || bytes.size() != 20 + size_t{kDepth} * width_) {
    return Status::DataLoss("admission sketch of " + std::to_string(bytes.size()) +
                            " bytes does not match a sketch of width " + std::to_string(width_));
  }
  std::memcpy(&sightings_since_halving_, bytes.data() + 4, 8);
  std::memcpy(&halvings_, bytes.data() + 12, 8);
  std::memcpy(counters_.get(), bytes.data() + 20, size_t{kDepth} * width_);
  return Status::OK();
}

}  // namespace pst
