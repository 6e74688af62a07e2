#include "common/cluster_keys.h"

#include <fcntl.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <toml++/toml.h>
#include <unistd.h>
#include <zmq.h>

#include <array>
#include <cerrno>
#include <cstring>
#include <fmt/format.h>
#include <system_error>

namespace pst {
namespace {

// A key file is a few hundred bytes; the cap stops a wrong path from being read whole.
constexpr size_t kMaxKeyFileBytes = 64 << 10;
constexpr size_t kZ85KeyChars = 40;
constexpr size_t kMinTokenChars = 32;

std::string ErrnoText(int err) { return std::error_code(err, std::generic_category()).message(); }

std::string JoinPath(const std::string& dir, const char* name) {
  return dir.empty() || dir.back() == '/' ? dir + name : dir + "/" + name;
}

// Group or other permission bits on a secret are refused, as ssh does.
Status CheckPrivate(const std::string& path, bool is_dir) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) {
    const int err = errno;
    if (err == ENOENT)
      return Status::NotFound(fmt::format("{} does not exist: make the cluster's keys with `pstrain keygen {}`",
                                          path, is_dir ? path : path.substr(0, path.rfind('/'))));
    return Status::PermissionDenied(fmt::format("cannot read {}: {}", path, ErrnoText(err)));
  }
  if (is_dir != S_ISDIR(st.st_mode))
    return Status::InvalidArgument(fmt::format("{} is not a {}: give the directory `pstrain keygen` wrote",
                                               path, is_dir ? "directory" : "regular file"));
  if ((st.st_mode & 077) != 0)
    return Status::PermissionDenied(fmt::format(
        "{} is accessible by group or others (mode {:04o}): run chmod {} {}", path, st.st_mode & 07777,
        is_dir ? "700" : "600", path));
  return Status::OK();
}

StatusOr<std::string> ReadSecretFile(const std::string& path) {
  PST_RETURN_IF_ERROR(CheckPrivate(path, /*is_dir=*/false));
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return Status::PermissionDenied(fmt::format("cannot read {}: {}", path, ErrnoText(errno)));
  std::string text;
  std::array<char, 4096> buf;
  for (;;) {
    const ssize_t n = ::read(fd, buf.data(), buf.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      const int err = errno;
      ::close(fd);
      return Status::PermissionDenied(fmt::format("cannot read {}: {}", path, ErrnoText(err)));
    }
    if (n == 0) break;
    text.append(buf.data(), static_cast<size_t>(n));
    if (text.size() > kMaxKeyFileBytes) {
      ::close(fd);
      return Status::InvalidArgument(fmt::format("{} is larger than {} bytes: not a pstrain key file", path,
                                                 kMaxKeyFileBytes));
    }
  }
  ::close(fd);
  return text;
}

// A Z85 key of 40 characters that decodes to 32 bytes.
Status CheckZ85Key(const std::string& path, const char* name, const std::string& key) {
  std::array<uint8_t, 32> raw{};
  if (key.size() != kZ85KeyChars || zmq_z85_decode(raw.data(), key.c_str()) == nullptr)
    return Status::InvalidArgument(fmt::format(
        "{}: {} is not a CurveZMQ key (40 Z85 characters): make fresh keys with `pstrain keygen`", path,
        name));
  return Status::OK();
}

// The public key that belongs to `secret`. REQUIRES: secret passed CheckZ85Key.
std::string PublicOf(const std::string& secret) {
  std::array<char, kZ85KeyChars + 1> pub{};
  if (zmq_curve_public(pub.data(), secret.c_str()) != 0) return "";
  return pub.data();
}

Status ParseKeyFile(const std::string& path, const std::string& text, ClusterKeys* keys) {
  toml::table root;
#if TOML_EXCEPTIONS
  try {
    root = toml::parse(text, std::string_view(path));
  } catch (const toml::parse_error& e) {
    return Status::InvalidArgument(fmt::format("{}:{}: not a pstrain key file ({}): make fresh keys with "
                                               "`pstrain keygen`",
                                               path, e.source().begin.line, e.description()));
  }
#else
  toml::parse_result result = toml::parse(text, std::string_view(path));
  if (!result)
    return Status::InvalidArgument(fmt::format("{}:{}: not a pstrain key file ({})", path,
                                               result.error().source().begin.line,
                                               result.error().description()));
  root = std::move(result).table();
#endif
  struct Field {
    const char* name;
    std::string* out;
  } fields[] = {{"server_public", &keys->server_public},
                {"server_secret", &keys->server_secret},
                {"client_public", &keys->client_public},
                {"client_secret", &keys->client_secret}};
  for (const Field& f : fields) {
    const std::optional<std::string> v = root[f.name].value<std::string>();
    if (!v)
      return Status::InvalidArgument(fmt::format(
          "{}: {} is missing: make fresh keys with `pstrain keygen`", path, f.name));
    *f.out = *v;
    PST_RETURN_IF_ERROR(CheckZ85Key(path, f.name, *v));
  }
  if (PublicOf(keys->server_secret) != keys->server_public)
    return Status::InvalidArgument(fmt::format(
        "{}: server_public does not belong to server_secret: make fresh keys with `pstrain keygen`", path));
  if (PublicOf(keys->client_secret) != keys->client_public)
    return Status::InvalidArgument(fmt::format(
        "{}: client_public does not belong to client_secret: make fresh keys with `pstrain keygen`", path));
  return Status::OK();
}

Status ParseToken(const std::string& path, std::string text, std::string* token) {
  while (!text.empty() && (text.back() == '\n' || text.back() == '\r')) text.pop_back();
  if (text.size() < kMinTokenChars)
    return Status::InvalidArgument(fmt::format(
        "{}: the token has {} characters, fewer than {}: make fresh keys with `pstrain keygen`", path,
        text.size(), kMinTokenChars));
  for (unsigned char c : text) {
    if (c <= ' ' || c >= 0x7f)
      return Status::InvalidArgument(fmt::format(
          "{}: the token must be one line of printable characters without spaces", path));
  }
  *token = std::move(text);
  return Status::OK();
}

// Creates `path` exclusively with mode 0600 and writes `text` to it.
Status WriteNewSecretFile(const std::string& path, const std::string& text) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) {
    const int err = errno;
    if (err == EEXIST)
      return Status::AlreadyExists(fmt::format("{} already exists: keys are never overwritten; remove it "
                                               "or choose another directory", path));
    return Status::Unavailable(fmt::format("cannot create {}: {}", path, ErrnoText(err)));
  }
  Status s;
  if (::fchmod(fd, 0600) != 0) s = Status::Unavailable(fmt::format("cannot chmod {}: {}", path, ErrnoText(errno)));
  size_t done = 0;
  while (s.ok() && done < text.size()) {
    const ssize_t n = ::write(fd, text.data() + done, text.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) s = Status::Unavailable(fmt::format("cannot write {}: {}", path, ErrnoText(errno)));
    else done += static_cast<size_t>(n);
  }
  if (s.ok() && ::fsync(fd) != 0) s = Status::Unavailable(fmt::format("cannot sync {}: {}", path, ErrnoText(errno)));
  ::close(fd);
  return s;
}

}  // namespace

StatusOr<ClusterKeys> GenerateClusterKeys() {
  ClusterKeys keys;
  std::array<char, kZ85KeyChars + 1> pub{}, sec{};
  if (zmq_curve_keypair(pub.data(), sec.data()) != 0)
    return Status::Internal("this libzmq has no CURVE support (zmq_curve_keypair failed)");
  keys.server_public = pub.data();
  keys.server_secret = sec.data();
  if (zmq_curve_keypair(pub.data(), sec.data()) != 0)
    return Status::Internal("this libzmq has no CURVE support (zmq_curve_keypair failed)");
  keys.client_public = pub.data();
  keys.client_secret = sec.data();
  std::array<uint8_t, 32> raw{};
  size_t got = 0;
  while (got < raw.size()) {
    const ssize_t n = ::getrandom(raw.data() + got, raw.size() - got, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return Status::Internal(std::string("getrandom: ") + ErrnoText(errno));
    got += static_cast<size_t>(n);
  }
  for (uint8_t b : raw) keys.admin_token += fmt::format("{:02x}", b);
  return keys;
}

Status WriteClusterKeys(const std::string& dir, const ClusterKeys& keys) {
  if (dir.empty()) return Status::InvalidArgument("the key directory must not be empty");
  if (::mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST)
    return Status::Unavailable(fmt::format("cannot create {}: {}", dir, ErrnoText(errno)));
  struct stat st {};
  if (::stat(dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode))
    return Status::Unavailable(fmt::format("{} is not a directory", dir));
  for (const char* name : {kClusterKeyFile, kAdminTokenFile}) {
    const std::string path = JoinPath(dir, name);
    if (::access(path.c_str(), F_OK) == 0)
      return Status::AlreadyExists(fmt::format(
          "{} already exists: keys are never overwritten; remove it or choose another directory", path));
  }
  if (::chmod(dir.c_str(), 0700) != 0)
    return Status::Unavailable(fmt::format("cannot chmod {}: {}", dir, ErrnoText(errno)));
  const std::string key_text = fmt::format(
      "# pstrain cluster key (CurveZMQ, Z85). Secret: every node of the cluster needs a copy,\n"
      "# nobody else. Made by `pstrain keygen`.\n"
      "server_public = \"{}\"\nserver_secret = \"{}\"\nclient_public = \"{}\"\nclient_secret = \"{}\"\n",
      keys.server_public, keys.server_secret, keys.client_public, keys.client_secret);
  PST_RETURN_IF_ERROR(WriteNewSecretFile(JoinPath(dir, kClusterKeyFile), key_text));
  return WriteNewSecretFile(JoinPath(dir, kAdminTokenFile), keys.admin_token + "\n");
}

StatusOr<ClusterKeys> LoadClusterKeys(const std::string& dir) {
  if (dir.empty()) return Status::InvalidArgument("the key directory must not be empty");
  PST_RETURN_IF_ERROR(CheckPrivate(dir, /*is_dir=*/true));
  ClusterKeys keys;
  const std::string key_path = JoinPath(dir, kClusterKeyFile);
  PST_ASSIGN_OR_RETURN(const std::string key_text, ReadSecretFile(key_path));
  PST_RETURN_IF_ERROR(ParseKeyFile(key_path, key_text, &keys));
  const std::string token_path = JoinPath(dir, kAdminTokenFile);
  PST_ASSIGN_OR_RETURN(std::string token_text, ReadSecretFile(token_path));
  PST_RETURN_IF_ERROR(ParseToken(token_path, std::move(token_text), &keys.admin_token));
  return keys;
}

}  // namespace pst
