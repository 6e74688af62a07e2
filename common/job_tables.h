// The tables a job's model declares (common/table_spec.h): what every role
// builds the key space from, without knowing the model. The PS creates these
// tables; the worker's Model computes on them and declares the same.
#pragma once

#include <vector>

#include "common/job_spec.h"
#include "common/status.h"
#include "common/table_spec.h"

namespace pst {

// The job's tables: the MLP's, each updated with job.optimizer, or a sparse
// model's with the job's per-table settings (common/sparse_model_tables.h).
// kInvalidArgument for an invalid model, optimizer or [[sparse_table]] entry.
// Thread-safe.
StatusOr<std::vector<TableSpec>> JobTables(const JobSpec& job);

}  // namespace pst
