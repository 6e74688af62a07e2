// Approximate sighting counts of ids not (yet) in a sparse table, in a fixed
// amount of memory: a count-min sketch of kDepth rows x width saturating 8-bit
// counters with conservative update. A count can only be overestimated (ids
// sharing counters), never underestimated, except that every counter is
// halved after width * kHalveAfterPerCounter sightings, so counts age and ids
// seen long ago must be seen again (TinyLFU's reset). Not thread-safe.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "common/status.h"

namespace pst {

class AdmissionSketch {
 public:
  static constexpr int kDepth = 4;
  static constexpr uint32_t kMaxCount = 255;
  static constexpr uint64_t kHalveAfterPerCounter = 8;

  // kInvalidArgument unless width is a power of two in [64, 2^28].
  static StatusOr<std::unique_ptr<AdmissionSketch>> Create(uint32_t width);
  AdmissionSketch(const AdmissionSketch&) = delete;
  AdmissionSketch& operator=(const AdmissionSketch&) = delete;

  // Records one sighting of id and returns its estimated count including it
  // (at most kMaxCount).
  uint32_t Add(uint64_t id);
  // The estimated count of id, without recording anything.
  uint32_t Estimate(uint64_t id) const;
  // Forgets the sightings of id (its row was created); other ids sharing its
  // counters lose at most what id contributed.
  void Forget(uint64_t id);

  size_t bytes() const { return size_t{kDepth} * width_; }
  uint32_t width() const { return width_; }

  // The whole state (counters and halving position) as bytes, for
  // checkpoints: u32 width | u64 sightings since halving | u64 halvings |
  // kDepth * width counters (little-endian).
  std::string Serialize() const;
  // Replaces the state with one Serialize wrote. kDataLoss (state unchanged)
  // if the bytes are malformed or of another width.
  Status Load(std::string_view bytes);
  uint64_t halvings() const { return halvings_; }

 private:
  explicit AdmissionSketch(uint32_t width);
  size_t Cell(int row, uint64_t id) const;
  // Fills cells[0, kDepth) with id's counter positions; returns their minimum.
  uint32_t CellsOf(uint64_t id, size_t* cells) const;

  uint32_t width_;
  std::unique_ptr<uint8_t[]> counters_;  // kDepth rows of width_
  uint64_t sightings_since_halving_ = 0;
  uint64_t halvings_ = 0;
};

}  // namespace pst
