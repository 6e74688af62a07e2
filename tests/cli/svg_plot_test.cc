#include "cli/svg_plot.h"

#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

namespace pst {
namespace {

// True if every tag in `xml` is closed in order (a tiny well-formedness check:
// no attributes containing '>' in our output, comments or CDATA).
bool BalancedTags(const std::string& xml, std::string* why) {
  std::vector<std::string> stack;
  size_t i = 0;
  while ((i = xml.find('<', i)) != std::string::npos) {
    const size_t end = xml.find('>', i);
    if (end == std::string::npos) return *why = "unterminated tag", false;
    std::string tag = xml.substr(i + 1, end - i - 1);
    i = end + 1;
    if (tag.empty()) return *why = "empty tag", false;
    if (tag[0] == '?' || tag[0] == '!') continue;
    if (tag.back() == '/') continue;
    if (tag[0] == '/') {
      const std::string name = tag.substr(1);
      if (stack.empty() || stack.back() != name) return *why = "unexpected </" + name + ">", false;
      stack.pop_back();
      continue;
    }
    stack.push_back(tag.substr(0, tag.find_first_of(" \t\n")));
  }
  if (!stack.empty()) return *why = "unclosed <" + stack.back() + ">", false;
  if (xml.find("<svg") == std::string::npos) return *why = "no <svg>", false;
  return true;
}

size_t Count(const std::string& s, const std::string& needle) {
  size_t n = 0;
  for (size_t i = s.find(needle); i != std::string::npos; i = s.find(needle, i + 1)) ++n;
  return n;
}

// Number of x,y pairs in the first polyline's points attribute.
size_t PolylinePoints(const std::string& svg) {
  const size_t p = svg.find("<polyline");
  if (p == std::string::npos) return 0;
  const size_t a = svg.find("points=\"", p) + 8;
  const std::string pts = svg.substr(a, svg.find('"', a) - a);
  return Count(pts, ",");
}

TEST_CASE("RenderSvg: well-formed, with series names and one point per value", "[cli]") {
  LinePlot plot{"Loss & <friends>", "time (s)", "loss", {}};
  PlotSeries s{"training loss", "#1f77b4", {}};
  for (int i = 0; i < 50; ++i) s.points.emplace_back(i * 0.5, 2.0 / (1 + i));
  plot.series.push_back(s);
  plot.series.push_back({"epoch loss", "#d62728", {{5, 0.4}, {10, 0.3}}, true});
  const std::string svg = RenderSvg(plot);
  std::string why;
  INFO(svg);
  REQUIRE(BalancedTags(svg, &why));
  CHECK(svg.find("training loss") != std::string::npos);
  CHECK(svg.find("epoch loss") != std::string::npos);
  CHECK(svg.find("Loss &amp; &lt;friends&gt;") != std::string::npos);
  CHECK(Count(svg, "<polyline") == 1);
  CHECK(PolylinePoints(svg) == 50);
  CHECK(Count(svg, "<circle") >= 2);
}

TEST_CASE("RenderSvg: empty, single-point, NaN and constant data", "[cli]") {
  std::string why;
  SECTION("no series at all") {
    const std::string svg = RenderSvg(LinePlot{"t", "x", "y", {}});
    CHECK(BalancedTags(svg, &why));
    CHECK(svg.find("no data") != std::string::npos);
  }
  SECTION("a series without points") {
    const std::string svg = RenderSvg(LinePlot{"t", "x", "y", {{"empty", "red", {}}}});
    CHECK(BalancedTags(svg, &why));
    CHECK(svg.find("empty") != std::string::npos);
    CHECK(svg.find("<polyline") == std::string::npos);
  }
  SECTION("one point: a marker, no line") {
    const std::string svg = RenderSvg(LinePlot{"t", "x", "y", {{"one", "red", {{1, 0.5}}}}});
    CHECK(BalancedTags(svg, &why));
    CHECK(svg.find("<polyline") == std::string::npos);
    CHECK(Count(svg, "<circle") == 1);
  }
  SECTION("NaN and infinite points are skipped") {
    const double nan = std::numeric_limits<double>::quiet_NaN();
    const double inf = std::numeric_limits<double>::infinity();
    const std::string svg = RenderSvg(LinePlot{
        "t", "x", "y", {{"s", "red", {{0, 1}, {1, nan}, {nan, 2}, {2, inf}, {3, 2}, {4, 3}}}}});
    INFO(svg);
    CHECK(BalancedTags(svg, &why));
    CHECK(PolylinePoints(svg) == 3);
    CHECK(svg.find("nan") == std::string::npos);
    CHECK(svg.find("inf") == std::string::npos);
  }
  SECTION("a constant series") {
    const std::string svg =
        RenderSvg(LinePlot{"t", "x", "y", {{"flat", "red", {{0, 0.7}, {1, 0.7}, {2, 0.7}}}}});
    INFO(svg);
    CHECK(BalancedTags(svg, &why));
    CHECK(PolylinePoints(svg) == 3);
    CHECK(svg.find("nan") == std::string::npos);
  }
  SECTION("all zeros, and all at one x") {
    const std::string svg =
        RenderSvg(LinePlot{"t", "x", "y", {{"z", "red", {{5, 0}, {5, 0}}}}, true});
    CHECK(BalancedTags(svg, &why));
    CHECK(svg.find("nan") == std::string::npos);
  }
}

TEST_CASE("NiceTicks: round values covering the range", "[cli]") {
  const auto unit = NiceTicks(0, 1, 5);
  REQUIRE(unit.size() == 6);
  for (size_t i = 0; i < unit.size(); ++i) CHECK(unit[i] == Approx(0.2 * i));
  const auto t = NiceTicks(3, 97, 5);
  REQUIRE(t.size() >= 3);
  CHECK(t.front() == 20);
  CHECK(t[1] - t[0] == 20);
  CHECK(NiceTicks(2, 2).size() == 1);
}

}  // namespace
}  // namespace pst
