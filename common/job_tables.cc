#include "common/job_tables.h"

#include "common/model_layout.h"
#include "common/sparse_model_tables.h"

namespace pst {

StatusOr<std::vector<TableSpec>> JobTables(const JobSpec& job) {
  PST_RETURN_IF_ERROR(ValidateOptimizerSpec(job.optimizer));
  // Sparse models: their declarations with the job's per-table settings.
  if (job.sparse()) return SparseModelTables(job);
  // The MLP (common/model_layout.h).
  PST_ASSIGN_OR_RETURN(ModelLayout layout, ModelLayout::FromSpec(job.model));
  return MlpTables(job.model, layout, job.optimizer);
}

}  // namespace pst
