#include "worker/models/unique_ids.h"

#include <catch2/catch.hpp>

namespace pst {
namespace {

TEST_CASE("DedupIds: sorted distinct ids and a slot for every position", "[worker]") {
  const std::vector<uint64_t> ids = {42, 7, 42, 1ull << 63, 7, 0};
  UniqueIds unique;
  DedupIds(ids, &unique);
  CHECK(unique.ids == std::vector<uint64_t>{0, 7, 42, 1ull << 63});
  REQUIRE(unique.slot.size() == ids.size());
  for (size_t k = 0; k < ids.size(); ++k) CHECK(unique.ids[unique.slot[k]] == ids[k]);
  DedupIds(std::vector<uint64_t>{}, &unique);  // reuse: previous content dropped
  CHECK(unique.ids.empty());
  CHECK(unique.slot.empty());
}

}  // namespace
}  // namespace pst
