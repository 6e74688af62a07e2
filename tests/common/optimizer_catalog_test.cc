#include "common/optimizer_catalog.h"

#include <capnp/schema.h>

#include <algorithm>
#include <catch2/catch.hpp>
#include <cctype>
#include <fstream>
#include <limits>
#include <set>
#include <sstream>
#include <string>

#include "common/job_file.h"
#include "proto/job.capnp.h"

namespace pst {
namespace {

std::string Lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

std::string ReadmeLine(const std::string& starts_with) {
  std::ifstream in(std::string(PST_SOURCE_DIR) + "/README.md");
  REQUIRE(in.good());
  std::string line;
  while (std::getline(in, line))
    if (line.rfind(starts_with, 0) == 0) return line;
  return "";
}

TEST_CASE("OptimizerCatalog: every rule is on the wire under its own name, and nothing else is",
          "[common]") {
  const capnp::EnumSchema schema = capnp::Schema::from<proto::OptimizerKind>();
  std::set<std::string> on_wire;
  for (capnp::EnumSchema::Enumerant e : schema.getEnumerants()) {
    const std::string wire_name = Lower(e.getProto().getName());
    on_wire.insert(wire_name);
    const DenseOptimizerInfo* rule = FindDenseOptimizer(static_cast<OptimizerKind>(e.getOrdinal()));
    INFO("wire enumerant " << wire_name << " @" << e.getOrdinal());
    REQUIRE(rule != nullptr);
    CHECK(rule->name == wire_name);
  }
  for (const DenseOptimizerInfo& rule : DenseOptimizers()) {
    INFO(rule.name);
    CHECK(on_wire.count(rule.name) == 1);
  }
  CHECK(on_wire.size() == DenseOptimizers().size());
}

TEST_CASE("OptimizerCatalog: the README's job-file table names every rule and parameter",
          "[common]") {
  const std::string kinds = ReadmeLine("| `optimizer.kind` |");
  REQUIRE_FALSE(kinds.empty());
  for (const DenseOptimizerInfo& rule : DenseOptimizers()) {
    INFO(rule.name);
    CHECK(kinds.find("`" + rule.name + "`") != std::string::npos);
  }
  for (const DenseOptimizerParam& p : DenseOptimizerParams()) {
    INFO(p.info.name);
    // A row may document several keys ("| `optimizer.beta1`, `optimizer.beta2` ...").
    std::ifstream in(std::string(PST_SOURCE_DIR) + "/README.md");
    std::stringstream all;
    all << in.rdbuf();
    CHECK(all.str().find("`optimizer." + p.info.name + "`") != std::string::npos);
  }
}

TEST_CASE("OptimizerCatalog: names, kinds and parameters are consistent", "[common]") {
  std::set<std::string> names;
  std::set<OptimizerKind> kinds;
  for (const DenseOptimizerInfo& rule : DenseOptimizers()) {
    INFO(rule.name);
    CHECK(names.insert(rule.name).second);
    CHECK(kinds.insert(rule.kind).second);
    CHECK(OptimizerKindName(rule.kind) == rule.name);
    auto parsed = ParseOptimizerKind(rule.name);
    REQUIRE(parsed.ok());
    CHECK(*parsed == rule.kind);
    for (const std::string& param : rule.params) {
      INFO(param);
      CHECK(std::any_of(DenseOptimizerParams().begin(), DenseOptimizerParams().end(),
                        [&](const DenseOptimizerParam& p) { return p.info.name == param; }));
    }
  }
  const OptimizerSpec defaults;
  for (const DenseOptimizerParam& p : DenseOptimizerParams()) {
    INFO(p.info.name);
    CHECK(p.info.default_value == defaults.*p.field);
    CHECK(ParamInRange(p.info, p.info.default_value));
  }
  CHECK(ValidateDenseOptimizerParams(defaults).ok());
}

TEST_CASE("OptimizerCatalog: an unknown name or id is refused with the known names", "[common]") {
  auto parsed = ParseOptimizerKind("rmsprop");
  REQUIRE_FALSE(parsed.ok());
  OptimizerSpec spec;
  spec.kind = static_cast<OptimizerKind>(200);
  const Status s = ValidateDenseOptimizerParams(spec);
  REQUIRE(s.code() == StatusCode::kInvalidArgument);
  for (const DenseOptimizerInfo& rule : DenseOptimizers()) {
    INFO(rule.name);
    CHECK(parsed.status().message().find(rule.name) != std::string::npos);
    CHECK(s.message().find(rule.name) != std::string::npos);
  }
  CHECK(std::string(OptimizerKindName(spec.kind)) == "?");
}

TEST_CASE("OptimizerCatalog: each parameter is refused just outside its range", "[common]") {
  for (const DenseOptimizerParam& p : DenseOptimizerParams()) {
    INFO(p.info.name);
    for (double bad : {p.info.min_exclusive ? p.info.min : p.info.min - 1e-3,
                       p.info.max_exclusive ? p.info.max : p.info.max + 1e-3}) {
      OptimizerSpec spec;
      spec.*p.field = static_cast<float>(bad);
      const Status s = ValidateDenseOptimizerParams(spec);
      INFO(bad);
      REQUIRE(s.code() == StatusCode::kInvalidArgument);
      CHECK(s.message() == "optimizer." + p.info.name + ": must be in " + ParamRangeText(p.info));
    }
  }
}

TEST_CASE("OptimizerCatalog: ParamRangeText and ParamInRange agree on open and closed ends",
          "[common]") {
  const OptimizerParamInfo half_open{"x", 0.5, 0, 1, false, "", true};
  CHECK(ParamRangeText(half_open) == "[0, 1)");
  CHECK(ParamInRange(half_open, 0));
  CHECK_FALSE(ParamInRange(half_open, 1));
  const OptimizerParamInfo left_open{"y", 1, 0, 100, true, ""};
  CHECK(ParamRangeText(left_open) == "(0, 100]");
  CHECK_FALSE(ParamInRange(left_open, 0));
  CHECK(ParamInRange(left_open, 100));
  CHECK_FALSE(ParamInRange(left_open, std::numeric_limits<double>::quiet_NaN()));
  CHECK_FALSE(ParamInRange(left_open, std::numeric_limits<double>::infinity()));
}

TEST_CASE("OptimizerCatalog: every parameter is a job-file key, read, range-checked and written",
          "[common]") {
  for (const DenseOptimizerParam& p : DenseOptimizerParams()) {
    INFO(p.info.name);
    // 0.5 lies inside every dense parameter's range and differs from every default.
    REQUIRE(ParamInRange(p.info, 0.5));
    REQUIRE(p.info.default_value != 0.5);
    auto job = ParseJobToml("[optimizer]\n" + p.info.name + " = 0.5\n", "job.toml");
    REQUIRE(job.ok());
    CHECK(job->optimizer.*p.field == 0.5f);
    CHECK(JobSpecToToml(*job).find("\n" + p.info.name + " = 0.5\n") != std::string::npos);

    auto bad = ParseJobToml("[optimizer]\n" + p.info.name + " = 1000\n", "job.toml");
    REQUIRE_FALSE(bad.ok());
    CHECK(bad.status().message().find("optimizer." + p.info.name + ": must be in " +
                                      ParamRangeText(p.info)) != std::string::npos);
  }
}

}  // namespace
}  // namespace pst
