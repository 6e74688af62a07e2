// Test helpers: write a file into a TempDir and read a file back whole.
#pragma once

#include <fstream>
#include <sstream>
#include <string>

#include "tests/testing/temp_dir.h"

namespace pst::testing {

// Writes `content` (bytes as given) to dir/name and returns the path.
inline std::string WriteTextFile(const TempDir& dir, const std::string& name,
                                 const std::string& content) {
  const std::string path = dir.path() + "/" + name;
  std::ofstream(path, std::ios::binary) << content;
  return path;
}

// The whole content of `path` ("" if it cannot be read).
inline std::string ReadTextFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

}  // namespace pst::testing
