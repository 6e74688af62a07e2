// RangeLineReader: streams the lines of one byte range of a text file, the unit
// a data shard is made of. Memory is one read buffer plus the longest line, never
// the file.
//
// Which lines a range owns: the line whose first byte is at offset p belongs to
// the range [begin, end) iff begin <= p < end (p is 0 or follows a '\n'). So a
// reader started in the middle of a line skips to the next line start, and the
// ranges of a split of a file (0 = b0 < b1 < ... < bn = size) read every line
// exactly once between them, wherever the cuts fall.
//
// Resuming: next_offset() is the first byte of the next line the reader would
// return. A reader opened on [next_offset(), end) returns exactly the lines this
// one has not returned yet, so a re-leased shard resumes at the record where the
// last reported step ended.
//
// Line numbers (for error messages) count from the start of the file; they are
// computed only when asked (LineNumberAt), by counting newlines before the
// offset once and incrementally after that.
//
// Not thread-safe: one thread owns a reader.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/file_shards.h"
#include "common/status.h"

namespace pst {

struct RangeLineReaderOptions {
  // A longer line is an error (bounds memory on a file without newlines).
  // Default: 16 MiB.
  size_t max_line_bytes = 16u << 20;
  // Bytes read from the file per read(2). Default: 1 MiB.
  size_t buffer_bytes = 1u << 20;
};

class RangeLineReader {
 public:
  // Opens range.path and positions the reader at the first line the range owns.
  // kNotFound if the file does not exist, kInvalidArgument if begin > end or the
  // path is not a readable regular file, kUnavailable for other I/O errors.
  static StatusOr<std::unique_ptr<RangeLineReader>> Open(
      const FileRange& range, const RangeLineReaderOptions& options = {});
  ~RangeLineReader();
  RangeLineReader(const RangeLineReader&) = delete;
  RangeLineReader& operator=(const RangeLineReader&) = delete;

  // Sets *line to the next line of the range without its '\n' (and without a
  // trailing '\r'); the view is valid until the next call. Returns true, or
  // false at the end of the range. *line_offset (if not null) receives the
  // line's first byte. kInvalidArgument for a line over max_line_bytes (the
  // message names the file and line), kUnavailable for an I/O error.
  StatusOr<bool> Next(std::string_view* line, uint64_t* line_offset = nullptr);

  // First byte of the next line Next() would return. Once the range is done:
  // the first line start at or after the range's end, or the file's size.
  uint64_t next_offset() const { return next_offset_; }
  // Whether the last line returned ended at the end of the file without a '\n'.
  bool last_line_unterminated() const { return last_unterminated_; }
  // 1-based line number (counted from the start of the file) of the line that
  // starts at `offset`. Reads the file before `offset` the first time it is
  // called; later calls with larger offsets only read the bytes in between.
  StatusOr<uint64_t> LineNumberAt(uint64_t offset);
  const std::string& path() const { return path_; }

 private:
  RangeLineReader(int fd, std::string path, uint64_t end, const RangeLineReaderOptions& options);
  // Reads more bytes after the buffered ones. Returns false at end of file.
  StatusOr<bool> Fill();
  // Consumes bytes up to and including the first '\n' at or after the reader's
  // position (positioning a reader that starts in the middle of a line).
  Status SkipPartialLine();

  int fd_;
  std::string path_;
  uint64_t end_;
  RangeLineReaderOptions options_;
  std::vector<char> buf_;
  size_t buf_begin_ = 0;  // first unconsumed byte in buf_
  size_t buf_end_ = 0;    // one past the last valid byte in buf_
  uint64_t buf_file_offset_ = 0;  // file offset of buf_[0]
  bool eof_ = false;
  uint64_t next_offset_ = 0;
  bool last_unterminated_ = false;
  // LineNumberAt's progress: newlines in [0, counted_offset_).
  uint64_t counted_offset_ = 0;
  uint64_t counted_newlines_ = 0;
};

}  // namespace pst
