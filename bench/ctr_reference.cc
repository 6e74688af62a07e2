#include "bench/ctr_reference.h"

#include <chrono>
#include <cmath>
#include <memory>
#include <unordered_map>

#include <fmt/format.h>

#include "common/binary_metrics.h"
#include "worker/data/feature_hash.h"
#include "worker/models/factorization_machine.h"

namespace pst::bench {

namespace {

// The model's tables held in memory, updated with Adagrad.
class LocalTables {
 public:
  LocalTables(const SparseModel& model, const CtrReferenceOptions& options)
      : options_(options) {
    for (const TableSpec& t : model.tables()) {
      if (t.kind == TableKind::kSparse) {
        dim_ = t.dim;
        init_scale_ = t.init.scale;
      } else {
        dense_.assign(t.size, 0.0f);
        dense_accum_.assign(t.size, 0.0f);
      }
    }
  }

  // Gathers the rows of ids->ids into *rows; with create, absent rows are
  // created (training), else their initial values are used (evaluation).
  void Gather(const UniqueIds& ids, bool create, std::vector<float>* rows) {
    rows->resize(ids.size() * dim_);
    for (size_t i = 0; i < ids.size(); ++i) {
      float* out = rows->data() + i * dim_;
      auto it = index_.find(ids.ids[i]);
      if (it == index_.end() && create) {
        it = index_.emplace(ids.ids[i], static_cast<uint32_t>(index_.size())).first;
        rows_.resize(index_.size() * dim_);
        accum_.resize(index_.size() * dim_, 0.0f);
        InitRow(ids.ids[i], rows_.data() + size_t{it->second} * dim_);
      }
      if (it == index_.end()) {
        InitRow(ids.ids[i], out);
      } else {
        std::copy_n(rows_.data() + size_t{it->second} * dim_, dim_, out);
      }
    }
  }

  void Apply(const UniqueIds& ids, const ModelGrads& grads, float scale) {
    for (size_t i = 0; i < ids.size(); ++i) {
      const size_t at = size_t{index_.at(ids.ids[i])} * dim_;
      Adagrad(rows_.data() + at, accum_.data() + at, grads.sparse[0].data() + i * dim_, dim_, scale);
    }
    Adagrad(dense_.data(), dense_accum_.data(), grads.dense[0].data(), dense_.size(), scale);
  }

  const float* dense() const { return dense_.data(); }
  uint64_t rows() const { return index_.size(); }

 private:
  void InitRow(uint64_t id, float* row) const {
    for (uint32_t e = 0; e < dim_; ++e) {
      const uint64_t h = HashInts(HashInts(options_.seed, id), e);
      const double u = static_cast<double>(h >> 11) * 0x1.0p-53;
      row[e] = static_cast<float>((2.0 * u - 1.0) * init_scale_);
    }
  }
  void Adagrad(float* w, float* h, const float* grad, size_t n, float scale) const {
    for (size_t e = 0; e < n; ++e) {
      const float g = grad[e] * scale;
      h[e] += g * g;
      w[e] -= options_.learning_rate * g / (std::sqrt(h[e]) + 1e-8f);
    }
  }

  const CtrReferenceOptions& options_;
  uint32_t dim_ = 1;
  double init_scale_ = 0;
  std::unordered_map<uint64_t, uint32_t> index_;
  std::vector<float> rows_, accum_, dense_, dense_accum_;
};

StatusOr<std::unique_ptr<FactorizationMachine>> MakeModel(const CtrReferenceOptions& o) {
  const uint32_t num_dense = SparseReader::NumDense(o.reader);
  if (o.model == "lr") return CreateLogisticRegression(num_dense);
  if (o.model == "fm") {
    FactorizationMachineOptions fm;
    fm.num_dense = num_dense;
    fm.num_factors = o.num_factors;
    fm.init_scale = o.init_scale;
    fm.seed = o.seed;
    return FactorizationMachine::Create(fm);
  }
  return Status::InvalidArgument(fmt::format("unknown model '{}' (expected lr or fm)", o.model));
}

// Runs `fn(batch)` over every batch of the file.
Status ForEachBatch(const std::string& path, const CtrReferenceOptions& o,
                    const std::function<Status(const SparseBatch&)>& fn) {
  PST_ASSIGN_OR_RETURN(std::unique_ptr<SparseReader> reader, SparseReader::Open({path}, o.reader));
  SparseBatch batch;
  while (true) {
    PST_ASSIGN_OR_RETURN(size_t n, reader->ReadBatch(o.batch_size, &batch));
    if (n == 0) return Status::OK();
    PST_RETURN_IF_ERROR(fn(batch));
  }
}

}  // namespace

StatusOr<std::vector<CtrEpochResult>> TrainCtrReference(
    const CtrReferenceOptions& o, const std::function<void(const CtrEpochResult&)>& on_epoch) {
  if (o.batch_size == 0 || o.epochs == 0 || !(o.learning_rate > 0)) {
    return Status::InvalidArgument("batch size, epochs and learning rate must be > 0");
  }
  PST_ASSIGN_OR_RETURN(std::unique_ptr<FactorizationMachine> model, MakeModel(o));
  LocalTables tables(*model, o);
  UniqueIds ids;
  std::vector<float> rows, probabilities;
  ModelGrads grads;
  auto params_for = [&](const SparseBatch& batch, bool create) {
    DedupIds(batch.ids, &ids);
    tables.Gather(ids, create, &rows);
    ModelParams params;
    params.sparse.push_back({&ids, rows.data()});
    params.dense.push_back(tables.dense());
    return params;
  };
  std::vector<CtrEpochResult> results;
  for (uint32_t epoch = 1; epoch <= o.epochs; ++epoch) {
    CtrEpochResult r;
    r.epoch = epoch;
    double loss = 0;
    uint64_t samples = 0;
    const auto start = std::chrono::steady_clock::now();
    PST_RETURN_IF_ERROR(ForEachBatch(o.train_path, o, [&](const SparseBatch& batch) -> Status {
      PST_ASSIGN_OR_RETURN(double batch_loss,
                           model->ForwardBackward(batch, params_for(batch, true), &grads));
      tables.Apply(ids, grads, 1.0f / static_cast<float>(batch.size()));
      loss += batch_loss;
      samples += batch.size();
      return Status::OK();
    }));
    r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    r.train_log_loss = samples > 0 ? loss / static_cast<double>(samples) : 0.0;
    BinaryMetrics metrics;
    PST_RETURN_IF_ERROR(ForEachBatch(o.test_path, o, [&](const SparseBatch& batch) -> Status {
      PST_RETURN_IF_ERROR(model->Predict(batch, params_for(batch, false), &probabilities));
      for (size_t i = 0; i < batch.size(); ++i) metrics.Add(probabilities[i], batch.labels[i]);
      return Status::OK();
    }));
    PST_ASSIGN_OR_RETURN(r.test_auc, metrics.Auc());
    PST_ASSIGN_OR_RETURN(r.test_log_loss, metrics.LogLoss());
    r.rows = tables.rows();
    if (on_epoch) on_epoch(r);
    results.push_back(r);
  }
  return results;
}

}  // namespace pst::bench
