// Small POSIX file helpers shared by the model file formats (common/safetensors.h,
// common/npy.h): an owning file descriptor, full reads and writes that retry on
// EINTR, I/O errors mapped to Status codes, and an atomic whole-file write.
// Thread-safe as long as no two threads write the same path at once; block on
// file I/O; throw nothing.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "common/status.h"

namespace pst {

// An owned file descriptor, closed at scope exit.
class Fd {
 public:
  explicit Fd(int fd = -1) : fd_(fd) {}
  // A close error matters only after writing, and writers call Close() themselves.
  ~Fd() { Close(); }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int get() const { return fd_; }
  // Closes the descriptor held and takes `fd`.
  void Reset(int fd) {
    Close();
    fd_ = fd;
  }
  // Returns the errno of close(), or 0.
  int Close();

 private:
  int fd_;
};

// "<path>: <what>: <strerror(err)>": kUnavailable for errors that may pass
// (full disk or quota, EIO, EAGAIN, EINTR), kInternal for the others (missing
// directory, permissions).
Status IoError(const std::string& path, std::string_view what, int err);

// Opens a regular file for reading: *fd gets it, *size its length.
// kNotFound ("<path>: no such file"), kInvalidArgument for something that is
// not a regular file, I/O errors as IoError.
Status OpenForReading(const std::string& path, Fd* fd, uint64_t* size);

// Writes all `size` bytes; returns 0 or the errno of the failed write.
int WriteAll(int fd, const void* data, size_t size);
// Reads up to `size` bytes at `offset`; returns the bytes read (fewer only at
// end of file) or -errno.
int64_t ReadAt(int fd, void* data, size_t size, uint64_t offset);

// Writes the concatenation of `pieces` to path + ".tmp", syncs it and renames
// it over `path` (then syncs the directory, best effort), so a reader sees
// the old file or the complete new one, never part of one; on failure the
// .tmp file is removed. Errors as IoError, naming the path.
Status WriteFileAtomically(const std::string& path, std::span<const std::string_view> pieces);

}  // namespace pst
