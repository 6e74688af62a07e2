#include "worker/idx_reader.h"

#include <stdlib.h>
#include <sys/stat.h>
#include <zlib.h>

#include <algorithm>
#include <catch2/catch.hpp>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <random>
#include <string>
#include <system_error>
#include <tuple>
#include <vector>

namespace pst {
namespace {

// A fresh directory under /tmp, removed with its content when the test ends.
class TempDir {
 public:
  TempDir() {
    char tmpl[] = "/tmp/pst_idx_test_XXXXXX";
    const char* dir = mkdtemp(tmpl);
    REQUIRE(dir != nullptr);
    path_ = dir;
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  std::string File(const std::string& name) const { return path_ + "/" + name; }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

void AppendBigEndian32(std::vector<uint8_t>& out, uint32_t v) {
  out.push_back(static_cast<uint8_t>(v >> 24));
  out.push_back(static_cast<uint8_t>(v >> 16));
  out.push_back(static_cast<uint8_t>(v >> 8));
  out.push_back(static_cast<uint8_t>(v));
}

// An IDX image file: header (magic 0x803, count, rows, cols) followed by `pixels`.
// The dimensions are written as given, so they may disagree with the payload.
std::vector<uint8_t> ImageFile(uint32_t count, uint32_t rows, uint32_t cols,
                               const std::vector<uint8_t>& pixels) {
  std::vector<uint8_t> out;
  AppendBigEndian32(out, 0x00000803);
  AppendBigEndian32(out, count);
  AppendBigEndian32(out, rows);
  AppendBigEndian32(out, cols);
  out.insert(out.end(), pixels.begin(), pixels.end());
  return out;
}

std::vector<uint8_t> LabelFile(uint32_t count, const std::vector<uint8_t>& labels) {
  std::vector<uint8_t> out;
  AppendBigEndian32(out, 0x00000801);
  AppendBigEndian32(out, count);
  out.insert(out.end(), labels.begin(), labels.end());
  return out;
}

void WriteRaw(const std::string& path, const std::vector<uint8_t>& bytes) {
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  f.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
  REQUIRE(f.good());
}

void WriteGz(const std::string& path, const std::vector<uint8_t>& bytes) {
  gzFile gz = gzopen(path.c_str(), "wb");
  REQUIRE(gz != nullptr);
  if (!bytes.empty()) {
    REQUIRE(gzwrite(gz, bytes.data(), static_cast<unsigned>(bytes.size())) ==
            static_cast<int>(bytes.size()));
  }
  REQUIRE(gzclose(gz) == Z_OK);
}

std::vector<uint8_t> ReadRaw(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  return std::vector<uint8_t>(std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>());
}

bool Contains(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}

// Three 2x2 images with labels {2, 0, 1}.
const std::vector<uint8_t> kPixels = {0, 255, 51, 102, 1, 2, 3, 4, 250, 128, 0, 17};
const std::vector<uint8_t> kLabels = {2, 0, 1};

void CheckSmallDataset(const Dataset& ds) {
  REQUIRE(ds.num_samples == 3);
  REQUIRE(ds.num_features == 4);
  CHECK(ds.num_classes == 3);
  REQUIRE(ds.features.size() == 12);
  REQUIRE(ds.labels == std::vector<int32_t>{2, 0, 1});
  for (size_t i = 0; i < kPixels.size(); ++i) {
    INFO("pixel " << i);
    CHECK(ds.features[i] == static_cast<float>(kPixels[i]) / 255.0f);
  }
  CHECK(ds.features[0] == 0.0f);
  CHECK(ds.features[1] == 1.0f);
  CHECK(ds.row(2)[0] == static_cast<float>(250) / 255.0f);
}

TEST_CASE("IdxReader: round-trips raw IDX files with pixels scaled to [0,1]", "[worker]") {
  TempDir dir;
  WriteRaw(dir.File("img"), ImageFile(3, 2, 2, kPixels));
  WriteRaw(dir.File("lbl"), LabelFile(3, kLabels));
  StatusOr<Dataset> ds = LoadIdxDataset(dir.File("img"), dir.File("lbl"));
  REQUIRE(ds.ok());
  CheckSmallDataset(*ds);
}

TEST_CASE("IdxReader: round-trips gzip IDX files, detected by content", "[worker]") {
  TempDir dir;
  WriteGz(dir.File("img.gz"), ImageFile(3, 2, 2, kPixels));
  // No .gz suffix: the format comes from the gzip magic bytes, not the name.
  WriteGz(dir.File("lbl"), LabelFile(3, kLabels));
  StatusOr<Dataset> ds = LoadIdxDataset(dir.File("img.gz"), dir.File("lbl"));
  REQUIRE(ds.ok());
  CheckSmallDataset(*ds);
}

TEST_CASE("IdxReader: limit keeps the first samples and the file's class count", "[worker]") {
  TempDir dir;
  WriteRaw(dir.File("img"), ImageFile(3, 2, 2, kPixels));
  WriteRaw(dir.File("lbl"), LabelFile(3, kLabels));
  StatusOr<Dataset> ds = LoadIdxDataset(dir.File("img"), dir.File("lbl"), 2);
  REQUIRE(ds.ok());
  CHECK(ds->num_samples == 2);
  CHECK(ds->features.size() == 8);
  CHECK(ds->labels == std::vector<int32_t>{2, 0});
  CHECK(ds->num_classes == 3);
  CHECK(ds->features[7] == 4.0f / 255.0f);

  StatusOr<Dataset> all = LoadIdxDataset(dir.File("img"), dir.File("lbl"), 100);
  REQUIRE(all.ok());
  CHECK(all->num_samples == 3);
}

TEST_CASE("IdxReader: num_classes is one more than the largest label", "[worker]") {
  TempDir dir;
  WriteRaw(dir.File("img"), ImageFile(2, 1, 1, {7, 8}));
  WriteRaw(dir.File("lbl"), LabelFile(2, {9, 4}));
  StatusOr<Dataset> ds = LoadIdxDataset(dir.File("img"), dir.File("lbl"));
  REQUIRE(ds.ok());
  CHECK(ds->num_classes == 10);
}

TEST_CASE("IdxReader: ReadMaybeGzipFile returns raw and decompressed bytes", "[worker]") {
  TempDir dir;
  std::vector<uint8_t> bytes(300000);
  std::mt19937 rng(7);
  for (uint8_t& b : bytes) b = static_cast<uint8_t>(rng() % 7);  // compressible
  WriteRaw(dir.File("raw"), bytes);
  WriteGz(dir.File("z.gz"), bytes);
  WriteRaw(dir.File("empty"), {});

  StatusOr<std::vector<uint8_t>> raw = ReadMaybeGzipFile(dir.File("raw"));
  REQUIRE(raw.ok());
  CHECK(*raw == bytes);
  StatusOr<std::vector<uint8_t>> gz = ReadMaybeGzipFile(dir.File("z.gz"));
  REQUIRE(gz.ok());
  CHECK(*gz == bytes);
  StatusOr<std::vector<uint8_t>> empty = ReadMaybeGzipFile(dir.File("empty"));
  REQUIRE(empty.ok());
  CHECK(empty->empty());

  // Exactly at the limit is fine; one byte over is not, for raw and gzip alike.
  CHECK(ReadMaybeGzipFile(dir.File("raw"), bytes.size()).ok());
  CHECK(ReadMaybeGzipFile(dir.File("z.gz"), bytes.size()).ok());
  for (const char* name : {"raw", "z.gz"}) {
    StatusOr<std::vector<uint8_t>> over = ReadMaybeGzipFile(dir.File(name), bytes.size() - 1);
    INFO(name << ": " << over.status().ToString());
    CHECK(over.status().code() == StatusCode::kInvalidArgument);
    CHECK(Contains(over.status().message(), dir.File(name)));
  }
}

TEST_CASE("IdxReader: a gzip bomb stops at max_bytes", "[worker]") {
  TempDir dir;
  WriteGz(dir.File("bomb.gz"), std::vector<uint8_t>(64 << 20, 0));  // ~64 KiB on disk
  StatusOr<std::vector<uint8_t>> r = ReadMaybeGzipFile(dir.File("bomb.gz"), 1 << 20);
  CHECK(r.status().code() == StatusCode::kInvalidArgument);
  CHECK(Contains(r.status().message(), "limit"));
}

TEST_CASE("IdxReader: truncated payload names the file and both sizes", "[worker]") {
  TempDir dir;
  std::vector<uint8_t> short_pixels(kPixels.begin(), kPixels.end() - 2);
  WriteRaw(dir.File("img"), ImageFile(3, 2, 2, short_pixels));
  WriteRaw(dir.File("lbl"), LabelFile(3, kLabels));
  StatusOr<Dataset> ds = LoadIdxDataset(dir.File("img"), dir.File("lbl"));
  INFO(ds.status().ToString());
  CHECK(ds.status().code() == StatusCode::kDataLoss);
  CHECK(Contains(ds.status().message(), dir.File("img")));
  CHECK(Contains(ds.status().message(), "truncated"));
  CHECK(Contains(ds.status().message(), "12"));
  CHECK(Contains(ds.status().message(), "only 10"));

  // A label file cut short, and a header cut short.
  WriteRaw(dir.File("img"), ImageFile(3, 2, 2, kPixels));
  WriteRaw(dir.File("lbl"), LabelFile(3, {2, 0}));
  ds = LoadIdxDataset(dir.File("img"), dir.File("lbl"));
  CHECK(ds.status().code() == StatusCode::kDataLoss);
  CHECK(Contains(ds.status().message(), dir.File("lbl")));
  std::vector<uint8_t> header = ImageFile(3, 2, 2, {});
  header.resize(10);
  WriteRaw(dir.File("img"), header);
  ds = LoadIdxDataset(dir.File("img"), dir.File("lbl"));
  CHECK(ds.status().code() == StatusCode::kDataLoss);
  CHECK(Contains(ds.status().message(), dir.File("img")));
  CHECK(Contains(ds.status().message(), "header"));
}

TEST_CASE("IdxReader: trailing bytes after the payload are rejected", "[worker]") {
  TempDir dir;
  std::vector<uint8_t> long_pixels = kPixels;
  long_pixels.push_back(9);
  WriteRaw(dir.File("img"), ImageFile(3, 2, 2, long_pixels));
  WriteRaw(dir.File("lbl"), LabelFile(3, kLabels));
  StatusOr<Dataset> ds = LoadIdxDataset(dir.File("img"), dir.File("lbl"));
  CHECK(ds.status().code() == StatusCode::kInvalidArgument);
  CHECK(Contains(ds.status().message(), dir.File("img")));
}

TEST_CASE("IdxReader: bad magic names the file and the magic", "[worker]") {
  TempDir dir;
  WriteRaw(dir.File("img"), ImageFile(3, 2, 2, kPixels));
  WriteRaw(dir.File("lbl"), LabelFile(3, kLabels));
  // Arguments swapped: the label file is read as images.
  StatusOr<Dataset> ds = LoadIdxDataset(dir.File("lbl"), dir.File("img"));
  INFO(ds.status().ToString());
  CHECK(ds.status().code() == StatusCode::kInvalidArgument);
  CHECK(Contains(ds.status().message(), dir.File("lbl")));
  CHECK(Contains(ds.status().message(), "magic"));
  CHECK(Contains(ds.status().message(), "0x00000801"));
  CHECK(Contains(ds.status().message(), "0x00000803"));

  WriteRaw(dir.File("text"),
           {'h', 'e', 'l', 'l', 'o', ' ', 'w', 'o', 'r', 'l', 'd', '!', '!', '!', '!', '!', '!'});
  ds = LoadIdxDataset(dir.File("text"), dir.File("lbl"));
  CHECK(ds.status().code() == StatusCode::kInvalidArgument);
  CHECK(Contains(ds.status().message(), "magic"));
}

TEST_CASE("IdxReader: image and label count mismatch names both files", "[worker]") {
  TempDir dir;
  WriteRaw(dir.File("img"), ImageFile(3, 2, 2, kPixels));
  WriteRaw(dir.File("lbl"), LabelFile(2, {1, 0}));
  StatusOr<Dataset> ds = LoadIdxDataset(dir.File("img"), dir.File("lbl"));
  INFO(ds.status().ToString());
  CHECK(ds.status().code() == StatusCode::kInvalidArgument);
  CHECK(Contains(ds.status().message(), dir.File("img")));
  CHECK(Contains(ds.status().message(), dir.File("lbl")));
  CHECK(Contains(ds.status().message(), "3 images"));
  CHECK(Contains(ds.status().message(), "2 labels"));
}

TEST_CASE("IdxReader: truncated or corrupt gzip stream is kDataLoss", "[worker]") {
  TempDir dir;
  std::vector<uint8_t> pixels(60000);
  std::mt19937 rng(3);
  for (uint8_t& p : pixels) p = static_cast<uint8_t>(rng());
  WriteGz(dir.File("full.gz"), ImageFile(60, 100, 10, pixels));
  const std::vector<uint8_t> gz = ReadRaw(dir.File("full.gz"));
  REQUIRE(gz.size() > 1000);
  WriteRaw(dir.File("lbl"), LabelFile(60, std::vector<uint8_t>(60, 1)));
  REQUIRE(LoadIdxDataset(dir.File("full.gz"), dir.File("lbl")).ok());

  // Cut inside the deflate data, inside the trailer, and inside the gzip header.
  for (size_t keep : {gz.size() / 2, gz.size() - 3, size_t{5}}) {
    WriteRaw(dir.File("cut.gz"), std::vector<uint8_t>(gz.begin(), gz.begin() + keep));
    StatusOr<std::vector<uint8_t>> r = ReadMaybeGzipFile(dir.File("cut.gz"));
    INFO("keep " << keep << ": " << r.status().ToString());
    CHECK(r.status().code() == StatusCode::kDataLoss);
    CHECK(Contains(r.status().message(), dir.File("cut.gz")));
    CHECK(Contains(r.status().message(), "truncated"));
    StatusOr<Dataset> ds = LoadIdxDataset(dir.File("cut.gz"), dir.File("lbl"));
    CHECK(ds.status().code() == StatusCode::kDataLoss);
  }

  // A flipped bit in the stored CRC is caught by zlib's check.
  std::vector<uint8_t> bad = gz;
  bad[bad.size() - 6] ^= 0x40;
  WriteRaw(dir.File("crc.gz"), bad);
  StatusOr<std::vector<uint8_t>> r = ReadMaybeGzipFile(dir.File("crc.gz"));
  INFO(r.status().ToString());
  CHECK(r.status().code() == StatusCode::kDataLoss);
  CHECK(Contains(r.status().message(), dir.File("crc.gz")));
  CHECK(Contains(r.status().message(), "corrupt"));
}

TEST_CASE("IdxReader: missing file is kNotFound with an install hint", "[worker]") {
  TempDir dir;
  WriteRaw(dir.File("lbl"), LabelFile(3, kLabels));
  StatusOr<Dataset> ds = LoadIdxDataset(dir.File("nope"), dir.File("lbl"));
  CHECK(ds.status().code() == StatusCode::kNotFound);
  CHECK(Contains(ds.status().message(), dir.File("nope")));

  // A missing data directory.
  ds = LoadFashionMnist(dir.File("no-such-dir"), /*train=*/false);
  INFO(ds.status().ToString());
  CHECK(ds.status().code() == StatusCode::kNotFound);
  CHECK(Contains(ds.status().message(), dir.File("no-such-dir")));
  CHECK(Contains(ds.status().message(), "apt-get install dataset-fashion-mnist"));

  // A directory holding only the images of the test split.
  WriteGz(dir.File("t10k-images-idx3-ubyte.gz"), ImageFile(3, 2, 2, kPixels));
  ds = LoadFashionMnist(dir.path(), /*train=*/false);
  CHECK(ds.status().code() == StatusCode::kNotFound);
  CHECK(Contains(ds.status().message(), "t10k-labels-idx1-ubyte.gz"));
  CHECK(Contains(ds.status().message(), "apt-get install dataset-fashion-mnist"));

  // Once the labels exist, uncompressed, the split loads.
  WriteRaw(dir.File("t10k-labels-idx1-ubyte"), LabelFile(3, kLabels));
  ds = LoadFashionMnist(dir.path(), /*train=*/false);
  REQUIRE(ds.ok());
  CheckSmallDataset(*ds);
  CHECK(LoadFashionMnist(dir.path(), /*train=*/true).status().code() == StatusCode::kNotFound);

  // A directory where a file is expected.
  CHECK(ReadMaybeGzipFile(dir.path()).status().code() == StatusCode::kInvalidArgument);
}

TEST_CASE("IdxReader: absurd header dimensions fail without allocating", "[worker]") {
  TempDir dir;
  WriteRaw(dir.File("lbl"), LabelFile(3, kLabels));
  // 2^32-1 cubed overflows 64 bits; 2^32-1 x 2^16 x 2^16 does not, but is
  // 2^64-ish bytes: either way the payload check must come before any allocation.
  for (auto [count, rows, cols] :
       {std::tuple<uint32_t, uint32_t, uint32_t>{0xffffffff, 0xffffffff, 0xffffffff},
        {0xffffffff, 0x10000, 0xffff},
        {0x7fffffff, 28, 28},
        {3, 0xffffffff, 0xffffffff}}) {
    WriteRaw(dir.File("img"), ImageFile(count, rows, cols, kPixels));
    StatusOr<Dataset> ds = LoadIdxDataset(dir.File("img"), dir.File("lbl"));
    INFO(count << " x " << rows << " x " << cols << ": " << ds.status().ToString());
    CHECK(ds.status().code() == StatusCode::kDataLoss);
    CHECK(Contains(ds.status().message(), dir.File("img")));
  }
  WriteRaw(dir.File("img"), ImageFile(3, 2, 2, kPixels));
  WriteRaw(dir.File("lbl"), LabelFile(0xffffffff, kLabels));
  CHECK(LoadIdxDataset(dir.File("img"), dir.File("lbl")).status().code() == StatusCode::kDataLoss);
  // Zero dimensions describe no data.
  WriteRaw(dir.File("img"), ImageFile(0, 2, 2, {}));
  CHECK(LoadIdxDataset(dir.File("img"), dir.File("lbl")).status().code() ==
        StatusCode::kInvalidArgument);
}

TEST_CASE("IdxReader: random corruption never crashes", "[worker]") {
  TempDir dir;
  const std::vector<uint8_t> image = ImageFile(3, 2, 2, kPixels);
  std::vector<uint8_t> gz_image;
  WriteGz(dir.File("seed.gz"), image);
  gz_image = ReadRaw(dir.File("seed.gz"));
  WriteRaw(dir.File("lbl"), LabelFile(3, kLabels));
  std::mt19937 rng(12345);
  size_t ok_count = 0;
  for (int iter = 0; iter < 400; ++iter) {
    std::vector<uint8_t> bytes = (iter % 2 == 0) ? image : gz_image;
    switch (rng() % 3) {
      case 0:  // flip a few bytes
        for (int k = 0; k < 1 + static_cast<int>(rng() % 4); ++k)
          bytes[rng() % bytes.size()] = static_cast<uint8_t>(rng());
        break;
      case 1:  // truncate
        bytes.resize(rng() % bytes.size());
        break;
      default:  // random garbage
        bytes.resize(rng() % 64);
        for (uint8_t& b : bytes) b = static_cast<uint8_t>(rng());
    }
    WriteRaw(dir.File("img"), bytes);
    StatusOr<Dataset> ds = LoadIdxDataset(dir.File("img"), dir.File("lbl"));
    if (ds.ok()) {
      ++ok_count;
      CHECK(ds->features.size() == ds->num_samples * ds->num_features);
    } else {
      CHECK(Contains(ds.status().message(), dir.File("img")));
    }
  }
  // Most mutations are caught; flips inside the raw pixel bytes legitimately are not.
  CHECK(ok_count < 400);
}

TEST_CASE("IdxReader: loads the Fashion-MNIST test split", "[worker]") {
  const std::string dir = "/usr/share/datasets/fashion-mnist";
  struct stat st;
  if (::stat(dir.c_str(), &st) != 0) {
    FAIL(dir << " is missing: install it with `apt-get install dataset-fashion-mnist`");
  }
  StatusOr<Dataset> ds = LoadFashionMnist(dir, /*train=*/false);
  INFO(ds.status().ToString());
  REQUIRE(ds.ok());
  CHECK(ds->num_samples == 10000);
  CHECK(ds->num_features == 784);
  CHECK(ds->num_classes == 10);
  CHECK(ds->features.size() == 10000u * 784u);
  CHECK(ds->labels.size() == 10000);
  // Every class appears, every pixel is in [0, 1], and the images are not blank.
  std::vector<int> per_class(10, 0);
  for (int32_t y : ds->labels) ++per_class[static_cast<size_t>(std::clamp(y, 0, 9))];
  for (int c : per_class) CHECK(c == 1000);
  const auto [lo, hi] = std::minmax_element(ds->features.begin(), ds->features.end());
  CHECK(*lo == 0.0f);
  CHECK(*hi == 1.0f);
  double sum = 0;
  for (float p : ds->features) sum += p;
  CHECK(sum / static_cast<double>(ds->features.size()) > 0.1);

  StatusOr<Dataset> limited = LoadFashionMnist(dir, /*train=*/false, 100);
  REQUIRE(limited.ok());
  CHECK(limited->num_samples == 100);
  CHECK(limited->num_classes == 10);
  CHECK(std::equal(limited->features.begin(), limited->features.end(), ds->features.begin()));
}

}  // namespace
}  // namespace pst
