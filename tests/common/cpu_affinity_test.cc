#include "common/cpu_affinity.h"

#include <sched.h>

#include <catch2/catch.hpp>
#include <thread>
#include <vector>

namespace pst {
namespace {

TEST_CASE("ParseCpuList: numbers and ranges, sorted and deduplicated", "[common]") {
  CHECK(*ParseCpuList("0") == std::vector<int>{0});
  CHECK(*ParseCpuList("3,1") == std::vector<int>{1, 3});
  CHECK(*ParseCpuList("0-3,6") == std::vector<int>{0, 1, 2, 3, 6});
  CHECK(*ParseCpuList("2-4,3,4-5") == std::vector<int>{2, 3, 4, 5});
  CHECK(*ParseCpuList("7-7") == std::vector<int>{7});
}

TEST_CASE("ParseCpuList: malformed lists are rejected with the offending item", "[common]") {
  for (const char* bad : {"", ",", "1,", "a", "1-", "-1", "3-1", "1.5", " 1", "1 ", "0x1", "99999",
                          "1--2", "1-2-3"}) {
    CAPTURE(bad);
    auto r = ParseCpuList(bad);
    REQUIRE_FALSE(r.ok());
    CHECK(r.status().code() == StatusCode::kInvalidArgument);
  }
  auto r = ParseCpuList("0,3-1");
  REQUIRE_FALSE(r.ok());
  CHECK_THAT(r.status().message(), Catch::Contains("'3-1' runs backwards"));
}

TEST_CASE("FormatCpuList is the inverse of ParseCpuList", "[common]") {
  CHECK(FormatCpuList({}) == "");
  CHECK(FormatCpuList({0}) == "0");
  CHECK(FormatCpuList({0, 1, 2, 3, 6}) == "0-3,6");
  CHECK(FormatCpuList({1, 3, 5}) == "1,3,5");
  for (const char* text : {"0", "0-1", "0-3,6", "1,3,5-9,11"}) {
    CAPTURE(text);
    CHECK(FormatCpuList(*ParseCpuList(text)) == text);
  }
}

TEST_CASE("PlaceCpus: a CPU per worker from the top, the rest shared", "[common]") {
  auto one = PlaceCpus({0, 1}, 1);
  REQUIRE(one.ok());
  CHECK(one->compute == std::vector<int>{1});
  CHECK(one->shared == std::vector<int>{0});

  auto three = PlaceCpus({0, 2, 4, 5, 6, 7}, 3);
  REQUIRE(three.ok());
  CHECK(three->compute == std::vector<int>{5, 6, 7});
  CHECK(three->shared == std::vector<int>{0, 2, 4});

  auto too_many = PlaceCpus({0, 1}, 2);
  REQUIRE_FALSE(too_many.ok());
  CHECK(too_many.status().code() == StatusCode::kInvalidArgument);
  CHECK_THAT(too_many.status().message(), Catch::Contains("only 2 CPU(s) (0-1)"));
}

TEST_CASE("PinCallingThread: the kernel reports the pinned set, and new threads inherit it",
          "[common]") {
  // On a thread of its own, so the test binary's main thread stays unpinned.
  std::vector<int> before, after, inherited;
  Status pinned, refused;
  std::thread t([&] {
    before = AllowedCpus();
    refused = PinCallingThread({CPU_SETSIZE - 1});  // not a CPU of this machine
    pinned = PinCallingThread({before.back()});
    after = AllowedCpus();
    std::thread child([&] { inherited = AllowedCpus(); });
    child.join();
  });
  t.join();
  REQUIRE_FALSE(before.empty());
  CHECK(refused.code() == StatusCode::kInvalidArgument);
  REQUIRE(pinned.ok());
  CHECK(after == std::vector<int>{before.back()});
  CHECK(inherited == after);
  CHECK(PinCallingThread({}).ok());
}

}  // namespace
}  // namespace pst
