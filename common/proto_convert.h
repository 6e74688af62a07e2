// Conversions between the plain config structs and their Cap'n Proto wire form.
// Decoding validates: a JobSpec from the network passes ValidateJobSpec or is
// rejected with kInvalidArgument.
#pragma once

#include "common/job_spec.h"
#include "common/status.h"
#include "proto/job.capnp.h"

namespace pst {

void ToProto(const JobSpec& spec, proto::JobSpec::Builder out);
StatusOr<JobSpec> FromProto(proto::JobSpec::Reader in);

}  // namespace pst
