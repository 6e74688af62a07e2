#include "common/cluster_keys.h"

#include <sys/stat.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <string>

namespace pst {
namespace {

class TempDir {
 public:
  TempDir() {
    std::string templ = "/tmp/pst-keys-test-XXXXXX";
    path_ = ::mkdtemp(templ.data()) != nullptr ? templ : "";
    REQUIRE(!path_.empty());
  }
  ~TempDir() { std::filesystem::remove_all(path_); }
  const std::string& path() const { return path_; }
  std::string keys() const { return path_ + "/keys"; }

 private:
  std::string path_;
};

ClusterKeys Fresh() {
  StatusOr<ClusterKeys> keys = GenerateClusterKeys();
  REQUIRE(keys.ok());
  return *keys;
}

void Overwrite(const std::string& path, const std::string& text) {
  std::ofstream(path, std::ios::trunc) << text;
  REQUIRE(::chmod(path.c_str(), 0600) == 0);
}

std::string KeyFileText(const ClusterKeys& k) {
  return "server_public = \"" + k.server_public + "\"\nserver_secret = \"" + k.server_secret +
         "\"\nclient_public = \"" + k.client_public + "\"\nclient_secret = \"" + k.client_secret + "\"\n";
}

TEST_CASE("ClusterKeys: written keys load back equal, with private modes", "[common]") {
  TempDir tmp;
  const ClusterKeys keys = Fresh();
  REQUIRE(keys.server_public.size() == 40);
  REQUIRE(keys.admin_token.size() == 64);
  REQUIRE(keys.server_public != keys.client_public);
  REQUIRE(WriteClusterKeys(tmp.keys(), keys).ok());
  struct stat st {};
  REQUIRE(::stat(tmp.keys().c_str(), &st) == 0);
  CHECK((st.st_mode & 0777) == 0700);
  for (const char* f : {kClusterKeyFile, kAdminTokenFile}) {
    REQUIRE(::stat((tmp.keys() + "/" + f).c_str(), &st) == 0);
    CHECK((st.st_mode & 0777) == 0600);
  }
  StatusOr<ClusterKeys> loaded = LoadClusterKeys(tmp.keys());
  REQUIRE(loaded.ok());
  CHECK(*loaded == keys);
  CHECK(Fresh() != keys);  // every generation is new
}

TEST_CASE("ClusterKeys: existing keys are never overwritten", "[common]") {
  TempDir tmp;
  const ClusterKeys keys = Fresh();
  REQUIRE(WriteClusterKeys(tmp.keys(), keys).ok());
  Status s = WriteClusterKeys(tmp.keys(), Fresh());
  CHECK(s.code() == StatusCode::kAlreadyExists);
  CHECK(s.message().find("never overwritten") != std::string::npos);
  StatusOr<ClusterKeys> loaded = LoadClusterKeys(tmp.keys());
  REQUIRE(loaded.ok());
  CHECK(*loaded == keys);
}

TEST_CASE("ClusterKeys: a missing directory says how to make one", "[common]") {
  TempDir tmp;
  StatusOr<ClusterKeys> loaded = LoadClusterKeys(tmp.path() + "/nope");
  CHECK(loaded.status().code() == StatusCode::kNotFound);
  CHECK(loaded.status().message().find("pstrain keygen") != std::string::npos);
}

TEST_CASE("ClusterKeys: keys readable by others are refused with the chmod to run", "[common]") {
  TempDir tmp;
  REQUIRE(WriteClusterKeys(tmp.keys(), Fresh()).ok());
  SECTION("directory") {
    REQUIRE(::chmod(tmp.keys().c_str(), 0755) == 0);
    StatusOr<ClusterKeys> loaded = LoadClusterKeys(tmp.keys());
    CHECK(loaded.status().code() == StatusCode::kPermissionDenied);
    CHECK(loaded.status().message().find("mode 0755") != std::string::npos);
    CHECK(loaded.status().message().find("chmod 700 " + tmp.keys()) != std::string::npos);
  }
  SECTION("key file") {
    const std::string f = tmp.keys() + "/" + kClusterKeyFile;
    REQUIRE(::chmod(f.c_str(), 0644) == 0);
    StatusOr<ClusterKeys> loaded = LoadClusterKeys(tmp.keys());
    CHECK(loaded.status().code() == StatusCode::kPermissionDenied);
    CHECK(loaded.status().message().find("chmod 600 " + f) != std::string::npos);
  }
  SECTION("token file, group-writable") {
    const std::string f = tmp.keys() + "/" + kAdminTokenFile;
    REQUIRE(::chmod(f.c_str(), 0620) == 0);
    CHECK(LoadClusterKeys(tmp.keys()).status().code() == StatusCode::kPermissionDenied);
  }
}

TEST_CASE("ClusterKeys: bad contents give one line naming the file", "[common]") {
  TempDir tmp;
  ClusterKeys keys = Fresh();
  REQUIRE(WriteClusterKeys(tmp.keys(), keys).ok());
  const std::string key_file = tmp.keys() + "/" + kClusterKeyFile;
  const std::string token_file = tmp.keys() + "/" + kAdminTokenFile;
  std::string expect;
  SECTION("not TOML") {
    Overwrite(key_file, "\x01\x02 this is = = not toml");
    expect = "not a pstrain key file";
  }
  SECTION("a key missing") {
    Overwrite(key_file, "server_public = \"" + keys.server_public + "\"\n");
    expect = "server_secret is missing";
  }
  SECTION("a key too short") {
    ClusterKeys bad = keys;
    bad.client_secret.pop_back();
    Overwrite(key_file, KeyFileText(bad));
    expect = "client_secret is not a CurveZMQ key";
  }
  SECTION("a key that is not Z85") {
    ClusterKeys bad = keys;
    bad.server_secret[3] = ' ';  // not in the Z85 alphabet
    Overwrite(key_file, KeyFileText(bad));
    expect = "server_secret is not a CurveZMQ key";
  }
  SECTION("a public key of another pair") {
    ClusterKeys bad = keys;
    bad.server_public = Fresh().server_public;
    Overwrite(key_file, KeyFileText(bad));
    expect = "server_public does not belong to server_secret";
  }
  SECTION("a short token") {
    Overwrite(token_file, "abc\n");
    expect = "fewer than 32";
  }
  SECTION("a token with spaces") {
    Overwrite(token_file, std::string(40, 'a') + " b\n");
    expect = "without spaces";
  }
  StatusOr<ClusterKeys> loaded = LoadClusterKeys(tmp.keys());
  REQUIRE(!loaded.ok());
  CHECK(loaded.status().code() == StatusCode::kInvalidArgument);
  CHECK(loaded.status().message().find(expect) != std::string::npos);
  CHECK(loaded.status().message().find('\n') == std::string::npos);
  CHECK(loaded.status().message().find(tmp.keys()) != std::string::npos);
}

}  // namespace
}  // namespace pst
