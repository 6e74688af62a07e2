#include "worker/idx_reader.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <array>
#include <cstdio>
#include <exception>
#include <memory>
#include <new>
#include <string_view>
#include <system_error>

namespace pst {
namespace {

constexpr uint32_t kImagesMagic = 0x00000803;  // uint8 data, 3 dimensions
constexpr uint32_t kLabelsMagic = 0x00000801;  // uint8 data, 1 dimension

constexpr std::string_view kInstallHint =
    "install it with `apt-get install dataset-fashion-mnist` (which puts the files in "
    "/usr/share/datasets/fashion-mnist) or pass the directory that holds "
    "train-images-idx3-ubyte.gz, train-labels-idx1-ubyte.gz, t10k-images-idx3-ubyte.gz and "
    "t10k-labels-idx1-ubyte.gz";

std::string Hex32(uint32_t v) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "0x%08x", v);
  return buf;
}

uint32_t BigEndian32(const uint8_t* p) {
  return uint32_t{p[0]} << 24 | uint32_t{p[1]} << 16 | uint32_t{p[2]} << 8 | uint32_t{p[3]};
}

// Maps an errno from open/fstat to a canonical code, as abseil's ErrnoToStatus does.
Status ErrnoStatus(const std::string& path, std::string_view what, int err) {
  std::string msg = path + ": " + std::string(what) + ": " +
                    std::error_code(err, std::generic_category()).message();
  switch (err) {
    case ENOENT:
    case ENOTDIR:
      return Status::NotFound(std::move(msg));
    case EACCES:
    case EPERM:
      return Status(StatusCode::kPermissionDenied, std::move(msg));
    case ENOMEM:
      return Status::ResourceExhausted(std::move(msg));
    case EIO:
      return Status::DataLoss(std::move(msg));
    default:
      return Status::Internal(std::move(msg));
  }
}

// Turns the error state zlib keeps on a read stream into a Status. Z_BUF_ERROR is
// how gzread reports that the input ended inside a gzip stream.
Status GzStatus(gzFile gz, const std::string& path) {
  int errnum = Z_OK;
  const char* msg = gzerror(gz, &errnum);
  std::string detail = msg != nullptr ? msg : "unknown zlib error";
  // zlib prefixes the name it was opened with, "<fd:N>" after gzdopen; our
  // messages name the real path instead.
  if (detail.rfind("<fd:", 0) == 0) {
    if (const size_t colon = detail.find(": "); colon != std::string::npos)
      detail.erase(0, colon + 2);
  }
  switch (errnum) {
    case Z_OK:
      return Status::OK();
    case Z_BUF_ERROR:
      return Status::DataLoss(path + ": truncated gzip stream (" + detail +
                              "); the file is incomplete, re-download or reinstall it");
    case Z_DATA_ERROR:
      return Status::DataLoss(path + ": corrupt gzip stream (" + detail + ")");
    case Z_MEM_ERROR:
      return Status::ResourceExhausted(path + ": out of memory while decompressing");
    case Z_ERRNO:
      return Status::DataLoss(path + ": read error: " + detail);
    default:
      return Status::Internal(path + ": zlib error " + std::to_string(errnum) + " (" + detail +
                              ")");
  }
}

struct GzCloser {
  void operator()(gzFile_s* gz) const { gzclose(gz); }
};
using GzHandle = std::unique_ptr<gzFile_s, GzCloser>;

StatusOr<std::vector<uint8_t>> ReadMaybeGzipFileImpl(const std::string& path, uint64_t max_bytes) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return ErrnoStatus(path, "cannot open", errno);
  struct stat st;
  if (::fstat(fd, &st) != 0) {
    const int err = errno;
    ::close(fd);
    return ErrnoStatus(path, "cannot stat", err);
  }
  if (S_ISDIR(st.st_mode)) {
    ::close(fd);
    return Status::InvalidArgument(path + ": is a directory, expected a data file");
  }
  // gzdopen reads gzip streams and passes any other content through unchanged,
  // so the format is decided by the bytes, not by the file name.
  gzFile raw_gz = gzdopen(fd, "rb");
  if (raw_gz == nullptr) {
    ::close(fd);
    return Status::ResourceExhausted(path + ": cannot allocate a zlib stream");
  }
  GzHandle gz(raw_gz);
  // Larger than zlib's 8 KiB default: fewer read(2) calls on the 26 MB training
  // images. A failure only costs speed, so the result is not checked.
  (void)gzbuffer(gz.get(), 1u << 17);

  // Never hold more than max_bytes + 1 bytes: the extra byte is how a file that
  // exceeds the limit is told apart from one that fills it exactly. Caps keep
  // the arithmetic from overflowing for max_bytes near 2^64.
  const uint64_t cap = std::min<uint64_t>(max_bytes, uint64_t{1} << 62);
  std::vector<uint8_t> out;
  if (S_ISREG(st.st_mode) && st.st_size > 0) {
    // The on-disk size is exact for raw files and a lower bound for gzip ones.
    out.reserve(std::min<uint64_t>(static_cast<uint64_t>(st.st_size), cap) + 1);
  }
  size_t chunk = size_t{1} << 16;
  for (;;) {
    const size_t old = out.size();
    const size_t want = std::min<uint64_t>(chunk, cap + 1 - old);
    out.resize(old + want);
    const int got = gzread(gz.get(), out.data() + old, static_cast<unsigned>(want));
    if (got < 0) {
      Status s = GzStatus(gz.get(), path);
      if (s.ok()) s = Status::Internal(path + ": gzread failed without an error code");
      return s;
    }
    out.resize(old + static_cast<size_t>(got));
    if (out.size() > cap) {
      return Status::InvalidArgument(path + ": content is larger than the limit of " +
                                     std::to_string(max_bytes) + " bytes");
    }
    if (got == 0) break;
    // Grow the read size with the buffer so big files take few calls; 16 MiB
    // stays well inside gzread's int return range.
    chunk = std::min<size_t>(chunk * 2, size_t{1} << 24);
  }
  PST_RETURN_IF_ERROR(GzStatus(gz.get(), path));
  return out;
}

// The dimensions of a validated IDX file and where its payload starts.
struct IdxView {
  std::array<uint64_t, 3> dims{};  // unused trailing entries are 0
  const uint8_t* payload = nullptr;
};

// Checks magic, header length and that the payload holds exactly the product of
// the dimensions in bytes. Only `data` is touched, so absurd dimensions cost
// nothing: nothing is allocated from header values before they are checked
// against the bytes actually present.
StatusOr<IdxView> ParseIdx(const std::vector<uint8_t>& data, const std::string& path,
                           uint32_t magic, size_t ndims, std::string_view kind) {
  const std::string expected =
      "an IDX " + std::string(kind) + " file starts with magic " + Hex32(magic);
  if (data.size() < 4) {
    return Status::DataLoss(path + ": truncated: " + std::to_string(data.size()) +
                            " bytes, too short for an IDX header (" + expected + ")");
  }
  const uint32_t got_magic = BigEndian32(data.data());
  if (got_magic != magic) {
    std::string msg = path + ": bad magic number " + Hex32(got_magic) + " (" + expected + ")";
    if (got_magic == kImagesMagic) msg += "; this looks like an image file";
    if (got_magic == kLabelsMagic) msg += "; this looks like a label file";
    return Status::InvalidArgument(std::move(msg));
  }
  const size_t header_bytes = 4 + 4 * ndims;
  if (data.size() < header_bytes) {
    return Status::DataLoss(path + ": truncated header: " + std::to_string(data.size()) +
                            " bytes, an IDX " + std::string(kind) + " header needs " +
                            std::to_string(header_bytes));
  }
  IdxView view;
  std::string dims_text;
  uint64_t product = 1;
  bool overflow = false;
  for (size_t i = 0; i < ndims; ++i) {
    view.dims[i] = BigEndian32(data.data() + 4 + 4 * i);
    dims_text += (i == 0 ? "" : " x ") + std::to_string(view.dims[i]);
    overflow |= __builtin_mul_overflow(product, view.dims[i], &product);
  }
  const uint64_t present = data.size() - header_bytes;
  if (overflow || product > present) {
    return Status::DataLoss(path + ": truncated: header says " + dims_text + " = " +
                            (overflow ? std::string("more than 2^64") : std::to_string(product)) +
                            " bytes of data but only " + std::to_string(present) + " are present");
  }
  if (product < present) {
    return Status::InvalidArgument(path + ": header says " + dims_text + " = " +
                                   std::to_string(product) + " bytes of data but " +
                                   std::to_string(present) +
                                   " are present (trailing bytes; not an IDX file?)");
  }
  for (size_t i = 0; i < ndims; ++i) {
    if (view.dims[i] == 0) {
      return Status::InvalidArgument(path + ": header dimensions " + dims_text +
                                     " describe an empty data set");
    }
  }
  view.payload = data.data() + header_bytes;
  return view;
}

StatusOr<Dataset> LoadIdxDatasetImpl(const std::string& images_path, const std::string& labels_path,
                                     uint64_t limit) {
  PST_ASSIGN_OR_RETURN(const std::vector<uint8_t> image_bytes, ReadMaybeGzipFile(images_path));
  PST_ASSIGN_OR_RETURN(const IdxView images,
                       ParseIdx(image_bytes, images_path, kImagesMagic, 3, "image"));
  PST_ASSIGN_OR_RETURN(const std::vector<uint8_t> label_bytes, ReadMaybeGzipFile(labels_path));
  PST_ASSIGN_OR_RETURN(const IdxView labels,
                       ParseIdx(label_bytes, labels_path, kLabelsMagic, 1, "label"));
  const uint64_t count = images.dims[0];
  if (labels.dims[0] != count) {
    return Status::InvalidArgument(
        images_path + " holds " + std::to_string(count) + " images but " + labels_path + " holds " +
        std::to_string(labels.dims[0]) + " labels; the two files must describe the same samples");
  }

  Dataset ds;
  // ParseIdx checked count * rows * cols against the bytes present, so these
  // sizes are bounded by the file content.
  ds.num_samples = limit > 0 ? std::min<uint64_t>(limit, count) : count;
  ds.num_features = images.dims[1] * images.dims[2];
  // The class count comes from every label in the file, not only the kept
  // ones, so a small `limit` does not change the model's output size.
  ds.num_classes = size_t{*std::max_element(labels.payload, labels.payload + count)} + 1;
  ds.labels.assign(labels.payload, labels.payload + ds.num_samples);

  // A table gives exactly p / 255.0f without a division per pixel.
  std::array<float, 256> scale;
  for (size_t p = 0; p < scale.size(); ++p) scale[p] = static_cast<float>(p) / 255.0f;
  const size_t n = ds.num_samples * ds.num_features;
  ds.features.resize(n);
  for (size_t i = 0; i < n; ++i) ds.features[i] = scale[images.payload[i]];
  return ds;
}

std::string JoinPath(const std::string& dir, const std::string& name) {
  if (dir.empty()) return name;
  return dir.back() == '/' ? dir + name : dir + "/" + name;
}

bool IsRegularFile(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode);
}

// Picks `dir/name` if it exists (already decompressed), else `dir/name.gz`.
StatusOr<std::string> FindIdxFile(const std::string& dir, const std::string& name) {
  const std::string raw = JoinPath(dir, name);
  if (IsRegularFile(raw)) return raw;
  const std::string gz = raw + ".gz";
  if (IsRegularFile(gz)) return gz;
  return Status::NotFound(gz + ": no such file (nor " + raw +
                          "); the Fashion-MNIST data set is "
                          "missing or incomplete: " +
                          std::string(kInstallHint));
}

// Allocation failures (bad_alloc, length_error) are the only exceptions the code
// above can raise; they become a Status here so none leaves our API.
template <typename Fn>
auto CatchAll(const std::string& what, Fn&& fn) -> decltype(fn()) {
  try {
    return fn();
  } catch (const std::bad_alloc&) {
    return Status::ResourceExhausted(what + ": out of memory");
  } catch (const std::exception& e) {
    return Status::Internal(what + ": " + e.what());
  }
}

}  // namespace

StatusOr<std::vector<uint8_t>> ReadMaybeGzipFile(const std::string& path, uint64_t max_bytes) {
  return CatchAll(path, [&] { return ReadMaybeGzipFileImpl(path, max_bytes); });
}

StatusOr<Dataset> LoadIdxDataset(const std::string& images_path, const std::string& labels_path,
                                 uint64_t limit) {
  return CatchAll(images_path, [&] { return LoadIdxDatasetImpl(images_path, labels_path, limit); });
}

namespace {

struct SplitFiles {
  std::string images, labels;
};

StatusOr<SplitFiles> FindSplitFiles(const std::string& dir, bool train) {
  struct stat st;
  if (::stat(dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) {
    return Status::NotFound("data directory " + dir +
                            " does not exist; the Fashion-MNIST data set is missing: " +
                            std::string(kInstallHint));
  }
  const std::string prefix = train ? "train" : "t10k";
  SplitFiles f;
  PST_ASSIGN_OR_RETURN(f.images, FindIdxFile(dir, prefix + "-images-idx3-ubyte"));
  PST_ASSIGN_OR_RETURN(f.labels, FindIdxFile(dir, prefix + "-labels-idx1-ubyte"));
  return f;
}

}  // namespace

Status CheckFashionMnistFiles(const std::string& dir) {
  for (bool train : {true, false}) {
    auto files = FindSplitFiles(dir, train);
    if (!files.ok()) return files.status();
  }
  return Status::OK();
}

StatusOr<Dataset> LoadFashionMnist(const std::string& dir, bool train, uint64_t limit) {
  return CatchAll(dir, [&]() -> StatusOr<Dataset> {
    PST_ASSIGN_OR_RETURN(SplitFiles f, FindSplitFiles(dir, train));
    return LoadIdxDatasetImpl(f.images, f.labels, limit);
  });
}

}  // namespace pst
