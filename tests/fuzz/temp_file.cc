#include "tests/fuzz/temp_file.h"

#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <iostream>

namespace pst::fuzz {

std::string WriteScratch(const std::string& name, const uint8_t* data, size_t size) {
  const std::string path = "/dev/shm/pst-fuzz-" + std::to_string(getpid()) + "-" + name;
  std::FILE* f = std::fopen(path.c_str(), "wb");
  if (f == nullptr || (size > 0 && std::fwrite(data, 1, size, f) != size) || std::fclose(f) != 0) {
    std::cerr << "fuzz harness: cannot write " << path << "\n";
    std::abort();
  }
  return path;
}

}  // namespace pst::fuzz
