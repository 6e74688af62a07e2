#include "cli/key_setup.h"

#include <filesystem>
#include <system_error>

#include <fmt/format.h>

#include "common/job_file.h"
#include "common/role_main.h"

namespace pst {
namespace fs = std::filesystem;

Status RunKeygenCommand(const std::string& dir, std::ostream& out) {
  PST_ASSIGN_OR_RETURN(const ClusterKeys keys, GenerateClusterKeys());
  PST_RETURN_IF_ERROR(WriteClusterKeys(dir, keys));
  out << fmt::format(
      "wrote {0}/{1} (CurveZMQ keys) and {0}/{2} (admin token); keep {0} secret (mode 0700).\n"
      "Copy it to every node of the cluster and pass --key-dir {0} to pstrain-scheduler, pstrain-ps,\n"
      "pstrain-worker and the pstrain commands (or set key_dir in the job file's [network] section).\n",
      dir, kClusterKeyFile, kAdminTokenFile);
  return Status::OK();
}

StatusOr<std::shared_ptr<const ClusterKeys>> PrepareLaunchKeys(bool secure, const std::string& run_dir,
                                                               NetworkSpec* network) {
  if (secure && network->key_dir.empty()) {
    std::error_code ec;
    const fs::path dir = fs::absolute(fs::path(run_dir) / "keys", ec);
    if (ec) return Status::Unavailable("cannot resolve " + run_dir + "/keys: " + ec.message());
    if (!fs::exists(dir / kClusterKeyFile, ec)) {
      PST_ASSIGN_OR_RETURN(const ClusterKeys keys, GenerateClusterKeys());
      PST_RETURN_IF_ERROR(WriteClusterKeys(dir.string(), keys));
    }
    network->key_dir = dir.string();
  }
  if (network->key_dir.empty()) return std::shared_ptr<const ClusterKeys>();
  return LoadKeyDir(network->key_dir);
}

StatusOr<std::shared_ptr<const ClusterKeys>> ResolveControlKeys(const std::string& key_dir,
                                                                const std::string& run_dir) {
  if (!key_dir.empty()) return LoadKeyDir(key_dir);
  if (run_dir.empty()) return std::shared_ptr<const ClusterKeys>();
  const std::string job_path = run_dir + "/job.toml";
  std::error_code ec;
  if (!fs::exists(job_path, ec)) return std::shared_ptr<const ClusterKeys>();
  PST_ASSIGN_OR_RETURN(const JobSpec job, LoadJobFile(job_path));
  if (job.network.key_dir.empty()) return std::shared_ptr<const ClusterKeys>();
  return LoadKeyDir(job.network.key_dir);
}

}  // namespace pst
