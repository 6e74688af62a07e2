#include "worker/data/range_line_reader.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>

#include <fmt/format.h>

namespace pst {

namespace {

Status ErrnoStatus(const std::string& path, const char* what, int err) {
  std::string message = fmt::format("data file '{}': {}: {}", path, what, std::strerror(err));
  if (err == ENOENT) return Status::NotFound(message + " (check the job's data paths)");
  if (err == EACCES || err == EISDIR) return Status::InvalidArgument(message);
  return Status::Unavailable(message);
}

}  // namespace

StatusOr<std::unique_ptr<RangeLineReader>> RangeLineReader::Open(
    const FileRange& range, const RangeLineReaderOptions& options) {
  if (range.begin > range.end) {
    return Status::InvalidArgument(fmt::format("data file '{}': range begins at byte {} after its end {}",
                                               range.path, range.begin, range.end));
  }
  if (options.buffer_bytes == 0 || options.max_line_bytes == 0) {
    return Status::InvalidArgument("RangeLineReader: buffer_bytes and max_line_bytes must be > 0");
  }
  const int fd = ::open(range.path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return ErrnoStatus(range.path, "cannot open", errno);
  struct stat st;
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    return Status::InvalidArgument(
        fmt::format("data file '{}' is not a regular file", range.path));
  }
  std::unique_ptr<RangeLineReader> reader(new RangeLineReader(fd, range.path, range.end, options));
  reader->buf_.resize(options.buffer_bytes);
  if (range.begin > 0) {
    // Start at the byte before `begin`: if it is a '\n', the line at `begin` is ours.
    reader->buf_file_offset_ = range.begin - 1;
    reader->next_offset_ = range.begin - 1;
    PST_RETURN_IF_ERROR(reader->SkipPartialLine());
  }
  return reader;
}

RangeLineReader::RangeLineReader(int fd, std::string path, uint64_t end,
                                 const RangeLineReaderOptions& options)
    : fd_(fd), path_(std::move(path)), end_(end), options_(options) {}

RangeLineReader::~RangeLineReader() { ::close(fd_); }

StatusOr<bool> RangeLineReader::Fill() {
  if (buf_begin_ > 0) {  // compact: keep only the unconsumed bytes
    std::memmove(buf_.data(), buf_.data() + buf_begin_, buf_end_ - buf_begin_);
    buf_file_offset_ += buf_begin_;
    buf_end_ -= buf_begin_;
    buf_begin_ = 0;
  }
  if (buf_.size() < buf_end_ + options_.buffer_bytes) buf_.resize(buf_end_ + options_.buffer_bytes);
  while (true) {
    const ssize_t n = ::pread(fd_, buf_.data() + buf_end_, options_.buffer_bytes,
                              static_cast<off_t>(buf_file_offset_ + buf_end_));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return ErrnoStatus(path_, "read failed", errno);
    if (n == 0) {
      eof_ = true;
      return false;
    }
    buf_end_ += static_cast<size_t>(n);
    return true;
  }
}

Status RangeLineReader::SkipPartialLine() {
  while (true) {
    const char* start = buf_.data() + buf_begin_;
    const char* nl = static_cast<const char*>(std::memchr(start, '\n', buf_end_ - buf_begin_));
    if (nl != nullptr) {
      const size_t consumed = static_cast<size_t>(nl - start) + 1;
      buf_begin_ += consumed;
      next_offset_ += consumed;
      return Status::OK();
    }
    // No line start in the buffered bytes: drop them all (they may be a very
    // long line that belongs to the previous range).
    next_offset_ += buf_end_ - buf_begin_;
    buf_begin_ = buf_end_;
    if (eof_) return Status::OK();
    PST_ASSIGN_OR_RETURN(bool more, Fill());
    if (!more) return Status::OK();
  }
}

StatusOr<bool> RangeLineReader::Next(std::string_view* line, uint64_t* line_offset) {
  last_unterminated_ = false;
  if (next_offset_ >= end_) return false;
  size_t scan_from = buf_begin_;
  while (true) {
    const char* nl = static_cast<const char*>(
        std::memchr(buf_.data() + scan_from, '\n', buf_end_ - scan_from));
    size_t length;
    size_t consumed;
    if (nl != nullptr) {
      length = static_cast<size_t>(nl - (buf_.data() + buf_begin_));
      consumed = length + 1;
    } else if (buf_end_ - buf_begin_ > options_.max_line_bytes) {
      PST_ASSIGN_OR_RETURN(uint64_t number, LineNumberAt(next_offset_));
      return Status::InvalidArgument(fmt::format(
          "data file '{}', line {}: longer than {} bytes (no newline; is it a text file of the "
          "job's format?)", path_, number, options_.max_line_bytes));
    } else if (eof_) {
      if (buf_end_ == buf_begin_) return false;
      length = consumed = buf_end_ - buf_begin_;
      last_unterminated_ = true;
    } else {
      const size_t scanned = buf_end_ - buf_begin_;
      PST_ASSIGN_OR_RETURN(bool more, Fill());
      (void)more;  // at end of file the next pass returns the unterminated rest
      scan_from = buf_begin_ + scanned;
      continue;
    }
    const char* start = buf_.data() + buf_begin_;
    if (length > 0 && start[length - 1] == '\r') --length;
    *line = std::string_view(start, length);
    if (line_offset != nullptr) *line_offset = next_offset_;
    buf_begin_ += consumed;
    next_offset_ += consumed;
    return true;
  }
}

StatusOr<uint64_t> RangeLineReader::LineNumberAt(uint64_t offset) {
  if (offset < counted_offset_) counted_offset_ = counted_newlines_ = 0;
  std::vector<char> chunk(std::min<uint64_t>(options_.buffer_bytes, offset - counted_offset_) + 1);
  while (counted_offset_ < offset) {
    const size_t want = static_cast<size_t>(std::min<uint64_t>(chunk.size(), offset - counted_offset_));
    const ssize_t n = ::pread(fd_, chunk.data(), want, static_cast<off_t>(counted_offset_));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return ErrnoStatus(path_, "read failed", errno);
    if (n == 0) break;  // offset past the end of the file
    counted_newlines_ += static_cast<uint64_t>(std::count(chunk.data(), chunk.data() + n, '\n'));
    counted_offset_ += static_cast<uint64_t>(n);
  }
  return counted_newlines_ + 1;
}

}  // namespace pst
