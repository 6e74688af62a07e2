// Test helper: a scratch directory for tests that need real files (RocksDB
// databases, run directories).
#pragma once

#include <stdlib.h>

#include <filesystem>
#include <string>
#include <system_error>

#include <catch2/catch.hpp>

namespace pst::testing {

// A fresh directory /tmp/pst_test_XXXXXX, removed with everything in it at
// destruction. Fails the current test if it cannot be created. Not
// thread-safe; one test owns it.
class TempDir {
 public:
  TempDir() {
    char tmpl[] = "/tmp/pst_test_XXXXXX";
    const char* p = mkdtemp(tmpl);
    REQUIRE(p != nullptr);
    path_ = p;
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

}  // namespace pst::testing
