// A cluster's key material, kept in one directory (`pstrain keygen DIR`):
//
//   DIR/           mode 0700
//     cluster.key  mode 0600: the CurveZMQ key pairs (Z85 text), one for every
//                  server socket (scheduler and PS ROUTERs) and one for every
//                  client socket (DEALERs of PS, workers and the CLI)
//     admin.token  mode 0600: the bearer token of the admin endpoint's POSTs
//
// Every node of the cluster gets a copy of the directory. A peer that does not
// hold it cannot complete a handshake: it does not know the servers' public key
// and, if it learns it, its own client key is not the cluster's, so the ZAP
// handler (common/zap_handler.h) refuses it. Nothing here throws.
#pragma once

#include <string>

#include "common/status.h"

namespace pst {

// Z85 text: 40 characters per 32-byte key.
struct ClusterKeys {
  std::string server_public;
  std::string server_secret;
  std::string client_public;
  std::string client_secret;
  // Bearer token for the admin endpoint's state-changing requests (hex).
  std::string admin_token;

  bool operator==(const ClusterKeys&) const = default;
};

// File names inside a key directory.
inline constexpr char kClusterKeyFile[] = "cluster.key";
inline constexpr char kAdminTokenFile[] = "admin.token";

// Fresh keys from the system's random source. kInternal if ZeroMQ has no
// CURVE support or no randomness is available.
StatusOr<ClusterKeys> GenerateClusterKeys();

// Writes `keys` into `dir`, creating it (mode 0700; an existing empty
// directory is set to 0700). Files are created 0600 whatever the umask.
// kAlreadyExists if dir already holds a cluster.key or admin.token (nothing is
// overwritten), kUnavailable if the directory or files cannot be written.
Status WriteClusterKeys(const std::string& dir, const ClusterKeys& keys);

// Reads and checks the keys in `dir`. Every error is one line naming the path
// and what to do:
//   kNotFound          dir or a file is missing (make one with `pstrain keygen`);
//   kPermissionDenied  dir or a file can be read or written by group or others
//                      (chmod 700 / 600), or cannot be read;
//   kInvalidArgument   bad contents: not TOML, a key missing or not 40 Z85
//                      characters, a public key that does not match its secret
//                      key, a token shorter than 32 characters or with spaces.
StatusOr<ClusterKeys> LoadClusterKeys(const std::string& dir);

}  // namespace pst
