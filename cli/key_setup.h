// The cluster key as the CLI sees it: `pstrain keygen`, the keys of a secured
// `pstrain launch` (--secure makes them in the run directory), and the keys a
// control command (status, scale, checkpoint) connects with.
#pragma once

#include <memory>
#include <ostream>
#include <string>

#include "common/cluster_keys.h"
#include "common/job_spec.h"
#include "common/status.h"

namespace pst {

// `pstrain keygen DIR`: writes fresh keys into DIR (see common/cluster_keys.h)
// and prints what to do with them. Errors as GenerateClusterKeys and
// WriteClusterKeys (kAlreadyExists: nothing is overwritten).
Status RunKeygenCommand(const std::string& dir, std::ostream& out);

// The keys a launch runs with. With `secure` and no network->key_dir, keys are
// made in <run_dir>/keys (kept when the run directory is resumed) and
// network->key_dir is set to that directory's absolute path. Returns null when
// the job runs without keys. Errors as WriteClusterKeys and LoadClusterKeys.
StatusOr<std::shared_ptr<const ClusterKeys>> PrepareLaunchKeys(bool secure, const std::string& run_dir,
                                                               NetworkSpec* network);

// The keys a control command connects with: `key_dir` if given, else the
// key_dir of <run_dir>/job.toml (what a secured `pstrain launch` wrote), else
// none (null). Errors as LoadClusterKeys and LoadJobFile.
StatusOr<std::shared_ptr<const ClusterKeys>> ResolveControlKeys(const std::string& key_dir,
                                                                const std::string& run_dir);

}  // namespace pst
