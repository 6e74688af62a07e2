#include "worker/sparse_evaluation.h"

#include <vector>

#include "common/binary_metrics.h"

namespace pst {

StatusOr<SparseEvaluation> EvaluateSparseModel(SparseModel& model, SparseReader& reader,
                                               const std::string& test_path, size_t batch_size,
                                               UniqueIds* ids, const PullSparseRows& pull,
                                               ModelParams* params) {
  SparseEvaluation out;
  BinaryMetrics metrics;
  std::vector<float> probabilities;
  SparseBatch batch;
  for (;;) {
    PST_ASSIGN_OR_RETURN(const size_t n, reader.ReadBatch(batch_size, &batch));
    if (n == 0) break;
    DedupIds(batch.ids, ids);
    PST_RETURN_IF_ERROR(pull(*ids, params));
    PST_RETURN_IF_ERROR(model.Predict(batch, *params, &probabilities));
    for (size_t i = 0; i < n; ++i) {
      metrics.Add(probabilities[i], batch.labels[i]);
      out.correct += (probabilities[i] >= 0.5f) == (batch.labels[i] > 0.5f);
    }
  }
  out.bad_lines = reader.bad_lines();
  out.last_bad_line = reader.last_bad_line();
  if (metrics.size() == 0)
    return Status::InvalidArgument("test file '" + test_path + "' holds no records");
  out.samples = metrics.size();
  // A test file of one class has no AUC; 0.5 says "no ranking skill" then.
  const StatusOr<double> auc = metrics.Auc();
  out.auc = auc.ok() ? *auc : 0.5;
  PST_ASSIGN_OR_RETURN(out.log_loss, metrics.LogLoss());
  return out;
}

}  // namespace pst
