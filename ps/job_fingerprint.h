// The job fingerprint a PS stores in every checkpoint manifest: what a
// checkpoint must match to be restored into a job. A restore into a different
// model, block layout or set of sparse tables is refused.
//
// Format: "layers=<sizes,>;optimizer=<kind>;block_keys=<n>;consistency=<c>",
// then for a sparse model ";model=<kind>" and per sparse table, in
// declaration order, ";table=<name>:dim=<d>,optimizer=<rule>(<param>=<value>,
// ...),seed=<s>" (the rule with every parameter resolved, defaults included;
// the seed of its initial rows, 0 for zeros). An MLP's fingerprint is the
// same as before sparse tables existed, so its old checkpoints still restore.
// Pure functions: thread-safe.
#pragma once

#include <string>

#include "common/job_spec.h"
#include "common/status.h"

namespace pst {

// The fingerprint of `job`. A sparse table whose settings cannot be resolved
// (the job was validated before, so not expected) is described as invalid.
std::string JobFingerprint(const JobSpec& job);

// OK if a checkpoint stored with fingerprint `stored` may be restored into a
// job whose fingerprint is `current` (they are equal). Otherwise
// kFailedPrecondition with one line saying what differs: the sparse table
// (name and both descriptions, or that one side lacks it) when the tables
// differ, else both whole fingerprints.
Status CheckJobFingerprint(const std::string& stored, const std::string& current);

}  // namespace pst
