#include "cli/local_sparse_trainer.h"

#include <chrono>
#include <memory>
#include <vector>

#include "common/sparse_model_tables.h"
#include "common/table_spec.h"
#include "ps/optimizer.h"
#include "ps/sparse_table.h"
#include "ps/sparse_table_spec.h"
#include "worker/data/sparse_reader.h"
#include "worker/mlp.h"
#include "worker/models/model_factory.h"
#include "worker/models/unique_ids.h"
#include "worker/sparse_evaluation.h"
#include "worker/sparse_work.h"

namespace pst {
namespace {

// The job's tables as the PS holds them.
struct Tables {
  std::vector<std::unique_ptr<SparseTable>> sparse;
  std::vector<std::vector<float>> dense;
  std::vector<std::unique_ptr<Optimizer>> optimizers;  // per dense table
};

StatusOr<Tables> MakeTables(const std::vector<TableSpec>& specs) {
  Tables t;
  uint64_t key = 0;
  for (const TableSpec& s : specs) {
    if (s.kind == TableKind::kSparse) {
      PST_ASSIGN_OR_RETURN(SparseTableOptions o, SparseTableOptionsFromSpec(s));
      PST_ASSIGN_OR_RETURN(auto table, SparseTable::Create(o));
      t.sparse.push_back(std::move(table));
    } else {
      std::vector<float> values(s.size);
      InitDenseKeys(specs, key, key + s.size, values.data());
      key += s.size;
      PST_ASSIGN_OR_RETURN(auto opt, Optimizer::Create(s.optimizer, s.size));
      t.dense.push_back(std::move(values));
      t.optimizers.push_back(std::move(opt));
    }
  }
  return t;
}

}  // namespace

StatusOr<SparseLocalResult> TrainSparseLocal(const JobSpec& job,
                                             const SparseLocalOptions& options) {
  PST_RETURN_IF_ERROR(ValidateJobSpec(job));
  if (!job.sparse()) return Status::InvalidArgument("in-process sparse trainer: not a sparse job");
  PST_ASSIGN_OR_RETURN(std::unique_ptr<SparseModel> model,
                       CreateSparseModel(SparseModelConfigFor(job)));
  PST_ASSIGN_OR_RETURN(std::vector<TableSpec> specs, SparseModelTables(job));
  PST_ASSIGN_OR_RETURN(Tables tables, MakeTables(specs));
  SetBlasThreads(1);
  const SparseReaderOptions reader_options = SparseReaderOptionsFor(job.sparse_data);

  SparseBatch batch;
  UniqueIds ids;
  std::vector<std::vector<float>> rows(tables.sparse.size());
  ModelGrads grads;
  // The rows of `unique` and the dense tables into *params.
  auto pull = [&](const UniqueIds& unique, ModelParams* params) {
    params->sparse.clear();
    params->dense.clear();
    for (size_t t = 0; t < tables.sparse.size(); ++t) {
      rows[t].resize(unique.size() * tables.sparse[t]->dim());
      tables.sparse[t]->Pull(unique.ids, rows[t].data());
      params->sparse.push_back({&unique, rows[t].data()});
    }
    for (const auto& d : tables.dense) params->dense.push_back(d.data());
    return Status::OK();
  };

  SparseLocalResult result;
  uint64_t step = 0;
  ModelParams params;
  for (uint32_t epoch = 0; epoch < job.train.epochs; ++epoch) {
    SparseLocalEpoch e;
    e.epoch = epoch;
    PST_ASSIGN_OR_RETURN(auto train, SparseReader::Open({job.sparse_data.train}, reader_options));
    const auto t0 = std::chrono::steady_clock::now();
    double loss_sum = 0;
    while (true) {
      PST_ASSIGN_OR_RETURN(size_t n, train->ReadBatch(job.train.batch_size, &batch));
      if (n == 0) break;
      DedupIds(batch.ids, &ids);
      PST_RETURN_IF_ERROR(pull(ids, &params));
      PST_ASSIGN_OR_RETURN(const double loss, model->ForwardBackward(batch, params, &grads));
      loss_sum += loss;
      ++step;
      const float scale = 1.0f / float(n);
      for (size_t t = 0; t < tables.sparse.size(); ++t)
        PST_RETURN_IF_ERROR(tables.sparse[t]->Push(ids.ids, grads.sparse[t].data(), scale, step));
      for (size_t t = 0; t < tables.dense.size(); ++t)
        tables.optimizers[t]->ApplyScaled(tables.dense[t].data(), grads.dense[t].data(), scale,
                                          step);
      e.samples += n;
    }
    e.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    e.train_loss = e.samples ? loss_sum / double(e.samples) : 0;
    result.samples += e.samples;
    result.train_seconds += e.seconds;
    if (options.evaluate_every_epoch || epoch + 1 == job.train.epochs) {
      PST_ASSIGN_OR_RETURN(auto test, SparseReader::Open({job.sparse_data.test}, reader_options));
      PST_ASSIGN_OR_RETURN(const SparseEvaluation ev,
                           EvaluateSparseModel(*model, *test, job.sparse_data.test,
                                               SparseWorkOptions{}.eval_batch, &ids, pull,
                                               &params));
      e.evaluated = true;
      e.test_auc = ev.auc;
      e.test_log_loss = ev.log_loss;
      e.test_accuracy = double(ev.correct) / double(ev.samples);
      result.test_auc = ev.auc;
    }
    result.epochs.push_back(e);
    if (options.on_epoch) options.on_epoch(e);
  }
  return result;
}

}  // namespace pst
