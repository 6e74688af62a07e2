// Keeps the README true: its quick-start commands, the flags its CLI table
// names, and the job-file keys and defaults it documents are checked against
// the code, so the docs cannot silently rot.
#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "common/job_file.h"
#include "tests/integration/harness.h"

namespace pst {
namespace {

using std::chrono::seconds;
using testing::ReadFile;
using testing::RunPstrain;

std::string Readme() { return ReadFile(std::string(PST_SOURCE_DIR) + "/README.md"); }

// The text of `## title` up to the next `## ` heading.
std::string Section(const std::string& doc, const std::string& title) {
  const size_t start = doc.find("\n## " + title + "\n");
  REQUIRE(start != std::string::npos);
  const size_t end = doc.find("\n## ", start + 1);
  return doc.substr(start, end == std::string::npos ? std::string::npos : end - start);
}

std::vector<std::string> Lines(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) out.push_back(line);
  return out;
}

// Every `...` span of a string.
std::vector<std::string> BacktickSpans(const std::string& s) {
  std::vector<std::string> out;
  const std::regex re("`([^`]+)`");
  for (auto it = std::sregex_iterator(s.begin(), s.end(), re); it != std::sregex_iterator(); ++it)
    out.push_back((*it)[1]);
  return out;
}

TEST_CASE("README: the quick start is two commands and CI runs the second verbatim",
          "[integration]") {
  const std::string quick = Section(Readme(), "Quick start");
  std::vector<std::string> commands;
  bool in_sh = false;
  for (const std::string& line : Lines(quick)) {
    if (line == "```sh") in_sh = true;
    else if (line == "```") in_sh = false;
    else if (in_sh && !line.empty()) commands.push_back(line);
  }
  REQUIRE(commands.size() == 2);
  CHECK(commands[0] == "bash deploy/bootstrap.sh && build/bin/pstrain launch");
  const std::string ci = ReadFile(std::string(PST_SOURCE_DIR) + "/.ci/run");
  CHECK(ci.find("\n" + commands[1] + "\n") != std::string::npos);
  // The launch command's binary is what this build produces.
  auto help = RunPstrain({"pstrain", "launch", "--help"}, seconds(20));
  CHECK(help.exit_code == 0);
}

TEST_CASE("README: every flag in the CLI section exists", "[integration]") {
  const std::string cli = Section(Readme(), "CLI");
  const std::regex flag_re("--[a-z][a-z0-9-]*");
  size_t rows = 0;
  for (const std::string& line : Lines(cli)) {
    if (line.rfind("| `pstrain", 0) != 0) continue;
    ++rows;
    // The first cell: "`pstrain launch [...]`" or "`pstrain-ps --scheduler ...`".
    const std::string cell = line.substr(2, line.find(" | ") - 2);
    std::istringstream words(cell.substr(1));
    std::string program, sub;
    words >> program >> sub;
    std::vector<std::string> argv{program};
    if (program == "pstrain") argv.push_back(sub);
    argv.push_back("--help");
    auto help = RunPstrain(argv, seconds(20));
    INFO(cell << "\n" << help.output);
    REQUIRE(help.exit_code == 0);
    for (auto it = std::sregex_iterator(cell.begin(), cell.end(), flag_re);
         it != std::sregex_iterator(); ++it)
      CHECK(help.output.find(it->str()) != std::string::npos);
  }
  CHECK(rows >= 6);
  // The job flags listed in prose are flags of both `launch` and `local`.
  const size_t start = cli.find("Job flags");
  REQUIRE(start != std::string::npos);
  const std::string prose = cli.substr(start, cli.find("\n\n", start) - start);
  for (const char* sub : {"launch", "local"}) {
    auto help = RunPstrain({"pstrain", sub, "--help"}, seconds(20));
    for (auto it = std::sregex_iterator(prose.begin(), prose.end(), flag_re);
         it != std::sregex_iterator(); ++it) {
      INFO(sub << " lacks " << it->str());
      CHECK(help.output.find(it->str()) != std::string::npos);
    }
  }
}

TEST_CASE("README: the job-file table lists real keys with their real defaults",
          "[integration]") {
  const std::string jobs = Section(Readme(), "Job files");
  // table -> "key = value" lines, built from rows "| `t.k`, `t.k2` | ... | `v`, `v2` |".
  std::map<std::string, std::vector<std::string>> tables;
  size_t keys = 0;
  for (const std::string& line : Lines(jobs)) {
    if (line.rfind("| `", 0) != 0) continue;
    const size_t first_end = line.find(" | ");
    const size_t last_start = line.rfind(" | ");
    const auto names = BacktickSpans(line.substr(0, first_end));
    const auto values = BacktickSpans(line.substr(last_start));
    INFO(line);
    REQUIRE(names.size() == values.size());
    for (size_t i = 0; i < names.size(); ++i) {
      const size_t dot = names[i].find('.');
      REQUIRE(dot != std::string::npos);
      std::string v = values[i];
      // Numbers, arrays and quoted strings (`""`) as they are; other text is a string.
      const bool literal = v.front() == '[' || v.front() == '"' || v == "true" || v == "false" ||
                           std::regex_match(v, std::regex("[-+]?[0-9]+(\\.[0-9]+)?(e[-+]?[0-9]+)?"));
      if (!literal) v = "\"" + v + "\"";
      tables[names[i].substr(0, dot)].push_back(names[i].substr(dot + 1) + " = " + v);
      ++keys;
    }
  }
  CHECK(keys >= 25);
  std::string toml;
  for (const auto& [table, lines] : tables) {
    toml += "[" + table + "]\n";
    for (const std::string& l : lines) toml += l + "\n";
  }
  INFO(toml);
  auto parsed = ParseJobToml(toml, "README.md");
  REQUIRE(parsed.ok());
  // Setting every documented key to its documented default gives the real defaults.
  CHECK(JobSpecToToml(*parsed) == JobSpecToToml(JobSpec{}));
}

}  // namespace
}  // namespace pst

namespace pst {
namespace {

TEST_CASE("README: every example job file is valid", "[integration]") {
  size_t found = 0;
  for (const auto& entry :
       std::filesystem::directory_iterator(std::string(PST_SOURCE_DIR) + "/examples")) {
    if (entry.path().extension() != ".toml") continue;
    ++found;
    auto job = LoadJobFile(entry.path().string());
    INFO(entry.path() << ": " << job.status().ToString());
    CHECK(job.ok());
  }
  CHECK(found >= 4);  // the default job, ASP, SSP and the BSP/SGD example
}

}  // namespace
}  // namespace pst
