#include "common/file_io.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <system_error>

namespace pst {

int Fd::Close() {
  if (fd_ < 0) return 0;
  int rc = ::close(fd_);
  fd_ = -1;
  return rc == 0 ? 0 : errno;
}

Status IoError(const std::string& path, std::string_view what, int err) {
  std::string message = path + ": " + std::string(what) + ": " +
                        std::error_code(err, std::generic_category()).message();
  switch (err) {
    case ENOSPC:
    case EDQUOT:
    case EIO:
    case EAGAIN:
    case EINTR:
      return Status::Unavailable(std::move(message));
    default:
      return Status::Internal(std::move(message));
  }
}

Status OpenForReading(const std::string& path, Fd* fd, uint64_t* size) {
  fd->Reset(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (fd->get() < 0) {
    if (errno == ENOENT) return Status::NotFound(path + ": no such file");
    return IoError(path, "cannot open", errno);
  }
  struct stat st;
  if (::fstat(fd->get(), &st) != 0) return IoError(path, "fstat failed", errno);
  if (!S_ISREG(st.st_mode)) return Status::InvalidArgument(path + ": not a regular file");
  *size = static_cast<uint64_t>(st.st_size);
  return Status::OK();
}

int WriteAll(int fd, const void* data, size_t size) {
  const char* p = static_cast<const char*>(data);
  while (size > 0) {
    ssize_t n = ::write(fd, p, size);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return errno;
    p += n;
    size -= static_cast<size_t>(n);
  }
  return 0;
}

int64_t ReadAt(int fd, void* data, size_t size, uint64_t offset) {
  char* p = static_cast<char*>(data);
  size_t done = 0;
  while (done < size) {
    ssize_t n = ::pread(fd, p + done, size - done, static_cast<off_t>(offset + done));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return -errno;
    if (n == 0) break;
    done += static_cast<size_t>(n);
  }
  return static_cast<int64_t>(done);
}

Status WriteFileAtomically(const std::string& path, std::span<const std::string_view> pieces) {
  const std::string tmp = path + ".tmp";
  Fd fd(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
  if (fd.get() < 0) return IoError(path, "cannot create " + tmp, errno);
  auto fail = [&](std::string_view what, int err) {
    fd.Close();  // its error does not matter: the file is being removed
    ::unlink(tmp.c_str());
    return IoError(path, std::string(what) + " " + tmp, err);
  };
  for (std::string_view piece : pieces)
    if (int err = WriteAll(fd.get(), piece.data(), piece.size())) return fail("writing", err);
  // Without the fsync a crash soon after the rename can leave `path` empty.
  if (::fsync(fd.get()) != 0) return fail("syncing", errno);
  if (int err = fd.Close()) return fail("closing", err);
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    int err = errno;
    ::unlink(tmp.c_str());
    return IoError(path, "cannot rename " + tmp + " to it", err);
  }
  // Make the rename itself durable. The new file is already in place and
  // complete, so a failure here is not worth failing the write for.
  std::string dir = path.substr(0, path.find_last_of('/') + 1);
  Fd dir_fd(::open(dir.empty() ? "." : dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (dir_fd.get() >= 0) ::fsync(dir_fd.get());
  return Status::OK();
}

}  // namespace pst
