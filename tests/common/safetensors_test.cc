#include "common/safetensors.h"

#include <stdlib.h>

#include <bit>
#include <catch2/catch.hpp>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <limits>
#include <random>
#include <string>
#include <system_error>

#include "common/status.h"

namespace pst {
namespace {

// A fresh directory under $TMPDIR, removed with its contents at scope exit.
class TempDir {
 public:
  TempDir() {
    std::string templ = (std::filesystem::temp_directory_path() / "pst_safetensors_test.XXXXXX");
    path_ = ::mkdtemp(templ.data()) != nullptr ? templ : "";
    REQUIRE(!path_.empty());
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  const std::string& path() const { return path_; }
  std::string File(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

std::string ReadBytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

void WriteBytes(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  REQUIRE(out.good());
}

std::string Le64(uint64_t v) {
  std::string out(8, '\0');
  for (int i = 0; i < 8; ++i) out[i] = static_cast<char>(v >> (8 * i));
  return out;
}

// A file as another writer might produce it: `header` verbatim, then `data`.
std::string MakeFile(const std::string& header, const std::string& data) {
  return Le64(header.size()) + header + data;
}

std::string FloatBytes(std::initializer_list<float> values) {
  std::string out;
  for (float v : values) out.append(reinterpret_cast<const char*>(&v), sizeof(v));
  return out;
}

bool SameBits(const std::vector<float>& a, const std::vector<float>& b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (std::bit_cast<uint32_t>(a[i]) != std::bit_cast<uint32_t>(b[i])) return false;
  }
  return true;
}

std::vector<NamedTensor> SampleTensors() {
  return {
      {"w0", {3, 2}, {1.5f, -2.0f, 0.0f, -0.0f, 1e-30f, 3.25f}},
      {"b0", {2}, {std::numeric_limits<float>::infinity(), std::nanf("")}},
      {"scalar", {}, {42.0f}},
      {"empty", {0, 5}, {}},
      {"layer.1/weight", {1, 1, 2}, {7.0f, 8.0f}},
  };
}

TEST_CASE("Safetensors: tensors round-trip bit for bit, in write order", "[common]") {
  TempDir dir;
  const std::string path = dir.File("model.safetensors");
  const std::vector<NamedTensor> tensors = SampleTensors();
  REQUIRE(WriteSafetensors(path, tensors, {}).ok());
  CHECK(!std::filesystem::exists(path + ".tmp"));

  StatusOr<SafetensorsFile> file = ReadSafetensors(path);
  INFO(file.status().ToString());
  REQUIRE(file.ok());
  REQUIRE(file->tensors.size() == tensors.size());
  for (size_t i = 0; i < tensors.size(); ++i) {
    INFO(tensors[i].name);
    CHECK(file->tensors[i].name == tensors[i].name);
    CHECK(file->tensors[i].shape == tensors[i].shape);
    CHECK(SameBits(file->tensors[i].values, tensors[i].values));
  }
  CHECK(file->metadata.empty());
}

TEST_CASE("Safetensors: views of memory elsewhere write the same file as tensors", "[common]") {
  TempDir dir;
  const std::vector<NamedTensor> tensors = SampleTensors();
  std::vector<TensorView> views;
  for (const NamedTensor& t : tensors) views.push_back({t.name, t.shape, t.values.data(), t.values.size()});
  REQUIRE(WriteSafetensors(dir.File("a"), tensors, {{"k", "v"}}).ok());
  REQUIRE(WriteSafetensorViews(dir.File("b"), views, {{"k", "v"}}).ok());
  auto read_all = [](const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), {});
  };
  CHECK(read_all(dir.File("a")) == read_all(dir.File("b")));
  // A view whose size does not match its shape is refused like a tensor.
  views[0].size -= 1;
  CHECK(WriteSafetensorViews(dir.File("c"), views, {}).code() == StatusCode::kInvalidArgument);
}

TEST_CASE("Safetensors: metadata round-trips", "[common]") {
  TempDir dir;
  const std::string path = dir.File("model.safetensors");
  const std::map<std::string, std::string> metadata = {{"format", "pt"},
                                                       {"job", "[model]\nlayers = [784, 10]\n"},
                                                       {"note", "caf\xc3\xa9 \"q\""},
                                                       {"empty", ""}};
  REQUIRE(WriteSafetensors(path, {{"w", {2}, {1.0f, 2.0f}}}, metadata).ok());
  StatusOr<SafetensorsFile> file = ReadSafetensors(path);
  REQUIRE(file.ok());
  CHECK(file->metadata == metadata);
  REQUIRE(file->tensors.size() == 1);

  // No tensors at all is a valid file too.
  REQUIRE(WriteSafetensors(path, {}, {{"k", "v"}}).ok());
  file = ReadSafetensors(path);
  REQUIRE(file.ok());
  CHECK(file->tensors.empty());
  CHECK(file->metadata.at("k") == "v");
}

TEST_CASE("Safetensors: layout of the written file", "[common]") {
  TempDir dir;
  const std::string path = dir.File("model.safetensors");
  for (int extra = 0; extra < 8; ++extra) {
    // Names of varying length exercise every amount of padding.
    std::vector<NamedTensor> tensors = {{"w" + std::string(extra, 'x'), {2, 2}, {1, 2, 3, 4}},
                                        {"b", {2}, {5, 6}}};
    REQUIRE(WriteSafetensors(path, tensors, {{"format", "pt"}}).ok());
    const std::string bytes = ReadBytes(path);
    REQUIRE(bytes.size() >= 9);
    uint64_t n = 0;
    for (int i = 0; i < 8; ++i) n |= uint64_t{static_cast<unsigned char>(bytes[i])} << (8 * i);
    INFO(bytes.substr(8));
    CHECK(n % 8 == 0);
    CHECK(bytes[8] == '{');
    REQUIRE(bytes.size() == 8 + n + 6 * sizeof(float));
    const std::string header = bytes.substr(8, n);
    CHECK(header.find_last_not_of(' ') == header.rfind('}'));
    CHECK(header.find(R"("dtype":"F32","shape":[2,2],"data_offsets":[0,16])") != std::string::npos);
    CHECK(header.find(R"("data_offsets":[16,24])") != std::string::npos);
    CHECK(header.find(R"("__metadata__":{"format":"pt"})") != std::string::npos);
    CHECK(bytes.substr(8 + n) == FloatBytes({1, 2, 3, 4, 5, 6}));
  }
}

TEST_CASE("Safetensors: a file from another writer is read sorted by offset", "[common]") {
  TempDir dir;
  const std::string path = dir.File("foreign.safetensors");
  // Keys out of offset order, metadata last, extra whitespace, unknown extra field.
  const std::string header =
      R"({ "b": {"dtype": "F32", "shape": [2], "data_offsets": [8, 16]},
           "a": {"dtype": "F32", "shape": [1, 2], "data_offsets": [0, 8], "extra": 1},
           "__metadata__": {"format": "np"} }   )";
  WriteBytes(path, MakeFile(header, FloatBytes({1, 2, 3, 4})));
  StatusOr<SafetensorsFile> file = ReadSafetensors(path);
  INFO(file.status().ToString());
  REQUIRE(file.ok());
  REQUIRE(file->tensors.size() == 2);
  CHECK(file->tensors[0].name == "a");
  CHECK(file->tensors[0].shape == std::vector<uint64_t>{1, 2});
  CHECK(file->tensors[0].values == std::vector<float>{1, 2});
  CHECK(file->tensors[1].name == "b");
  CHECK(file->tensors[1].values == std::vector<float>{3, 4});
  CHECK(file->metadata.at("format") == "np");

  // Sorting is by offset, not by name.
  const std::string swapped =
      R"({"a": {"dtype": "F32", "shape": [2], "data_offsets": [8, 16]},
          "b": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}})";
  WriteBytes(path, MakeFile(swapped, FloatBytes({1, 2, 3, 4})));
  file = ReadSafetensors(path);
  REQUIRE(file.ok());
  CHECK(file->tensors[0].name == "b");
  CHECK(file->tensors[1].name == "a");
}

TEST_CASE("Safetensors: the writer rejects bad input and names the path", "[common]") {
  TempDir dir;
  const std::string path = dir.File("model.safetensors");
  struct Case {
    std::vector<NamedTensor> tensors;
    std::map<std::string, std::string> metadata;
    const char* hint;
  };
  const Case cases[] = {
      {{{"w", {2, 3}, {1, 2, 3, 4, 5}}}, {}, "shape"},
      {{{"w", {}, {}}}, {}, "shape"},  // a scalar holds one value
      {{{"w", {1ull << 32, 1ull << 32, 1ull << 32}, {1}}}, {}, "shape"},  // product overflows
      {{{"w", {1}, {1}}, {"w", {1}, {2}}}, {}, "repeats"},
      {{{"__metadata__", {1}, {1}}}, {}, "__metadata__"},
      {{{"bad\xff", {1}, {1}}}, {}, "UTF-8"},
      {{{"w", {1}, {1}}}, {{"k", "bad\xc3"}}, "UTF-8"},
  };
  for (const Case& c : cases) {
    INFO(c.hint);
    Status s = WriteSafetensors(path, c.tensors, c.metadata);
    CHECK(s.code() == StatusCode::kInvalidArgument);
    CHECK(s.message().find(path) != std::string::npos);
    CHECK(s.message().find(c.hint) != std::string::npos);
    CHECK(!std::filesystem::exists(path));
    CHECK(!std::filesystem::exists(path + ".tmp"));
  }
}

TEST_CASE("Safetensors: I/O errors name the path", "[common]") {
  TempDir dir;
  const std::string path = dir.File("no/such/dir/model.safetensors");
  Status s = WriteSafetensors(path, SampleTensors(), {});
  REQUIRE(!s.ok());
  CHECK(s.message().find(path) != std::string::npos);

  StatusOr<SafetensorsFile> file = ReadSafetensors(dir.File("missing.safetensors"));
  REQUIRE(!file.ok());
  CHECK(file.status().code() == StatusCode::kNotFound);
  CHECK(file.status().message().find("missing.safetensors") != std::string::npos);

  file = ReadSafetensors(dir.path());
  REQUIRE(!file.ok());
  CHECK(file.status().code() == StatusCode::kInvalidArgument);
}

TEST_CASE("Safetensors: overwriting replaces the file", "[common]") {
  TempDir dir;
  const std::string path = dir.File("model.safetensors");
  REQUIRE(WriteSafetensors(path, SampleTensors(), {{"v", "1"}}).ok());
  REQUIRE(WriteSafetensors(path, {{"only", {1}, {9}}}, {{"v", "2"}}).ok());
  StatusOr<SafetensorsFile> file = ReadSafetensors(path);
  REQUIRE(file.ok());
  REQUIRE(file->tensors.size() == 1);
  CHECK(file->tensors[0].name == "only");
  CHECK(file->metadata.at("v") == "2");
}

TEST_CASE("Safetensors: every truncation of a file is kDataLoss", "[common]") {
  TempDir dir;
  const std::string path = dir.File("model.safetensors");
  REQUIRE(WriteSafetensors(path, SampleTensors(), {{"format", "pt"}}).ok());
  const std::string bytes = ReadBytes(path);
  const std::string cut_path = dir.File("cut.safetensors");
  for (size_t len = 0; len < bytes.size(); ++len) {
    WriteBytes(cut_path, bytes.substr(0, len));
    StatusOr<SafetensorsFile> file = ReadSafetensors(cut_path);
    INFO("cut at " << len << " of " << bytes.size() << ": " << file.status().ToString());
    REQUIRE(!file.ok());
    CHECK(file.status().code() == StatusCode::kDataLoss);
  }
}

TEST_CASE("Safetensors: corrupt headers give errors, not crashes", "[common]") {
  TempDir dir;
  const std::string path = dir.File("corrupt.safetensors");
  const std::string data = FloatBytes({1, 2, 3, 4});
  struct Case {
    const char* what;
    std::string bytes;
    StatusCode code;
  };
  const std::string deep = std::string(100000, '[') + std::string(100000, ']');
  const Case cases[] = {
      {"header length 2^64-1", Le64(~uint64_t{0}) + "{}", StatusCode::kDataLoss},
      {"header length 2^63", Le64(uint64_t{1} << 63) + "{}", StatusCode::kDataLoss},
      {"header length past the end", Le64(64) + "{}      ", StatusCode::kDataLoss},
      {"header length 0", Le64(0) + data, StatusCode::kDataLoss},
      {"bad JSON", MakeFile(R"({"w": {"dtype": "F32", )", data), StatusCode::kDataLoss},
      {"not UTF-8", MakeFile("{\"\xff\": 1}", data), StatusCode::kDataLoss},
      {"not an object", MakeFile("[1, 2]   ", data), StatusCode::kDataLoss},
      {"deeply nested", MakeFile(R"({"w": )" + deep + "}", data), StatusCode::kDataLoss},
      {"entry not an object", MakeFile(R"({"w": 5})", data), StatusCode::kDataLoss},
      {"missing dtype", MakeFile(R"({"w": {"shape": [4], "data_offsets": [0, 16]}})", data),
       StatusCode::kDataLoss},
      {"missing shape", MakeFile(R"({"w": {"dtype": "F32", "data_offsets": [0, 16]}})", data),
       StatusCode::kDataLoss},
      {"negative dim",
       MakeFile(R"({"w": {"dtype": "F32", "shape": [-4], "data_offsets": [0, 16]}})", data),
       StatusCode::kDataLoss},
      {"float dim",
       MakeFile(R"({"w": {"dtype": "F32", "shape": [4.0], "data_offsets": [0, 16]}})", data),
       StatusCode::kDataLoss},
      {"one offset",
       MakeFile(R"({"w": {"dtype": "F32", "shape": [4], "data_offsets": [0]}})", data),
       StatusCode::kDataLoss},
      {"offsets past the data",
       MakeFile(R"({"w": {"dtype": "F32", "shape": [8], "data_offsets": [0, 32]}})", data),
       StatusCode::kDataLoss},
      {"huge offsets",
       MakeFile(
           R"({"w": {"dtype": "F32", "shape": [2], "data_offsets": [18446744073709551608, 18446744073709551615]}})",
           data),
       StatusCode::kDataLoss},
      {"begin after end",
       MakeFile(R"({"w": {"dtype": "F32", "shape": [0], "data_offsets": [8, 4]}})", data),
       StatusCode::kDataLoss},
      {"shape does not match offsets",
       MakeFile(R"({"w": {"dtype": "F32", "shape": [3], "data_offsets": [0, 16]}})", data),
       StatusCode::kDataLoss},
      {"shape product overflows",
       MakeFile(
           R"({"w": {"dtype": "F32", "shape": [4294967296, 4294967296, 4], "data_offsets": [0, 16]}})",
           data),
       StatusCode::kDataLoss},
      {"overlap",
       MakeFile(R"({"a": {"dtype": "F32", "shape": [3], "data_offsets": [0, 12]},
                    "b": {"dtype": "F32", "shape": [2], "data_offsets": [8, 16]}})",
                data),
       StatusCode::kDataLoss},
      {"metadata not strings", MakeFile(R"({"__metadata__": {"epoch": 3}})", data),
       StatusCode::kDataLoss},
      {"metadata not an object", MakeFile(R"({"__metadata__": "x"})", data), StatusCode::kDataLoss},
      {"short file", std::string("\x10\x00\x00", 3), StatusCode::kDataLoss},
      {"empty file", "", StatusCode::kDataLoss},
      {"other dtype",
       MakeFile(R"({"w": {"dtype": "F16", "shape": [8], "data_offsets": [0, 16]}})", data),
       StatusCode::kUnimplemented},
  };
  for (const Case& c : cases) {
    INFO(c.what);
    WriteBytes(path, c.bytes);
    StatusOr<SafetensorsFile> file = ReadSafetensors(path);
    INFO(file.status().ToString());
    REQUIRE(!file.ok());
    CHECK(file.status().code() == c.code);
    CHECK(file.status().message().find(path) != std::string::npos);
  }
  WriteBytes(path,
             MakeFile(R"({"w": {"dtype": "BF16", "shape": [8], "data_offsets": [0, 16]}})", data));
  CHECK(ReadSafetensors(path).status().message().find("BF16") != std::string::npos);
}

TEST_CASE("Safetensors: random byte flips never crash the reader", "[common]") {
  TempDir dir;
  const std::string path = dir.File("model.safetensors");
  REQUIRE(WriteSafetensors(path, SampleTensors(), {{"format", "pt"}}).ok());
  const std::string good = ReadBytes(path);
  std::mt19937 rng(1234);
  std::uniform_int_distribution<size_t> pos(0, good.size() - 1);
  std::uniform_int_distribution<int> byte(0, 255);
  int failures = 0;
  for (int i = 0; i < 1500; ++i) {
    std::string bad = good;
    for (int k = 0; k < 1 + i % 3; ++k) bad[pos(rng)] = static_cast<char>(byte(rng));
    WriteBytes(path, bad);
    StatusOr<SafetensorsFile> file = ReadSafetensors(path);  // must return, whatever it returns
    if (!file.ok()) ++failures;
  }
  CHECK(failures > 0);
}

}  // namespace
}  // namespace pst
