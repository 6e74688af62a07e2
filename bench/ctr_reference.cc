#include "bench/ctr_reference.h"

#include <chrono>
#include <cmath>
#include <memory>
#include <unordered_map>

#include <fmt/format.h>

#include "common/binary_metrics.h"
#include "common/table_spec.h"
#include "ps/sparse_row_init.h"

namespace pst::bench {

namespace {

// The model's tables held in memory, updated with Adagrad.
class LocalTables {
 public:
  LocalTables(const std::vector<TableSpec>& tables, float learning_rate)
      : learning_rate_(learning_rate) {
    uint64_t dense_key = 0;
    for (const TableSpec& t : tables) {
      if (t.kind == TableKind::kSparse) {
        Sparse s;
        s.dim = t.dim;
        s.init.kind = t.init.kind == TableInitKind::kUniform ? RowInitKind::kUniform
                                                             : RowInitKind::kZeros;
        s.init.seed = t.init.seed;
        s.init.scale = static_cast<float>(t.init.scale);
        sparse_.push_back(std::move(s));
      } else {
        Dense d;
        d.values.resize(t.size);
        InitDenseKeys(tables, dense_key, dense_key + t.size, d.values.data());
        d.accum.assign(t.size, 0.0f);
        dense_key += t.size;
        dense_.push_back(std::move(d));
      }
    }
  }

  // The params of a batch whose unique ids are `ids`: each sparse table's rows
  // gathered (created first if `create`, else read as their initial values
  // when absent) and the dense tables. Valid until the next call.
  ModelParams Gather(const UniqueIds& ids, bool create) {
    ModelParams params;
    rows_.resize(sparse_.size());
    for (size_t t = 0; t < sparse_.size(); ++t) {
      Sparse& s = sparse_[t];
      rows_[t].resize(ids.size() * s.dim);
      for (size_t i = 0; i < ids.size(); ++i) {
        float* out = rows_[t].data() + i * s.dim;
        auto it = s.index.find(ids.ids[i]);
        if (it == s.index.end() && create) {
          it = s.index.emplace(ids.ids[i], static_cast<uint32_t>(s.index.size())).first;
          s.values.resize(s.index.size() * s.dim);
          s.accum.resize(s.index.size() * s.dim, 0.0f);
          InitRow(s.init, ids.ids[i], s.dim, s.values.data() + size_t{it->second} * s.dim);
        }
        if (it == s.index.end()) {
          InitRow(s.init, ids.ids[i], s.dim, out);
        } else {
          std::copy_n(s.values.data() + size_t{it->second} * s.dim, s.dim, out);
        }
      }
      params.sparse.push_back({&ids, rows_[t].data()});
    }
    for (const Dense& d : dense_) params.dense.push_back(d.values.data());
    return params;
  }

  void Apply(const UniqueIds& ids, const ModelGrads& grads, float scale) {
    for (size_t t = 0; t < sparse_.size(); ++t) {
      Sparse& s = sparse_[t];
      for (size_t i = 0; i < ids.size(); ++i) {
        const size_t at = size_t{s.index.at(ids.ids[i])} * s.dim;
        Adagrad(s.values.data() + at, s.accum.data() + at, grads.sparse[t].data() + i * s.dim,
                s.dim, scale);
      }
    }
    for (size_t t = 0; t < dense_.size(); ++t) {
      Adagrad(dense_[t].values.data(), dense_[t].accum.data(), grads.dense[t].data(),
              dense_[t].values.size(), scale);
    }
  }

  uint64_t rows() const {
    uint64_t n = 0;
    for (const Sparse& s : sparse_) n += s.index.size();
    return n;
  }

 private:
  struct Sparse {
    uint32_t dim = 1;
    RowInit init;
    std::unordered_map<uint64_t, uint32_t> index;  // id -> row number
    std::vector<float> values, accum;
  };
  struct Dense {
    std::vector<float> values, accum;
  };

  void Adagrad(float* w, float* h, const float* grad, size_t n, float scale) const {
    for (size_t e = 0; e < n; ++e) {
      const float g = grad[e] * scale;
      h[e] += g * g;
      w[e] -= learning_rate_ * g / (std::sqrt(h[e]) + 1e-8f);
    }
  }

  float learning_rate_;
  std::vector<Sparse> sparse_;
  std::vector<Dense> dense_;
  std::vector<std::vector<float>> rows_;  // per sparse table: the batch's gathered rows
};

// Runs `fn(batch)` over every batch of the file; adds the skipped lines to *r.
Status ForEachBatch(const std::string& path, const CtrReferenceOptions& o, CtrEpochResult* r,
                    const std::function<Status(const SparseBatch&)>& fn) {
  PST_ASSIGN_OR_RETURN(std::unique_ptr<SparseReader> reader, SparseReader::Open({path}, o.reader));
  SparseBatch batch;
  while (true) {
    PST_ASSIGN_OR_RETURN(size_t n, reader->ReadBatch(o.batch_size, &batch));
    if (n == 0) break;
    PST_RETURN_IF_ERROR(fn(batch));
  }
  r->bad_lines += reader->bad_lines();
  if (reader->bad_lines() > 0) r->last_bad_line = reader->last_bad_line();
  return Status::OK();
}

}  // namespace

StatusOr<std::vector<CtrEpochResult>> TrainCtrReference(
    const CtrReferenceOptions& o, const std::function<void(const CtrEpochResult&)>& on_epoch) {
  if (o.batch_size == 0 || o.epochs == 0 || !(o.learning_rate > 0)) {
    return Status::InvalidArgument("batch size, epochs and learning rate must be > 0");
  }
  SparseModelConfig config = o.model;
  config.num_fields = SparseReader::NumFields(o.reader);
  config.num_dense = SparseReader::NumDense(o.reader);
  PST_ASSIGN_OR_RETURN(std::unique_ptr<SparseModel> model, CreateSparseModel(config));
  LocalTables tables(model->tables(), o.learning_rate);
  UniqueIds ids;
  std::vector<float> probabilities;
  ModelGrads grads;
  auto params_for = [&](const SparseBatch& batch, bool create) {
    DedupIds(batch.ids, &ids);
    return tables.Gather(ids, create);
  };
  std::vector<CtrEpochResult> results;
  for (uint32_t epoch = 1; epoch <= o.epochs; ++epoch) {
    CtrEpochResult r;
    r.epoch = epoch;
    double loss = 0;
    uint64_t samples = 0;
    const auto start = std::chrono::steady_clock::now();
    PST_RETURN_IF_ERROR(ForEachBatch(o.train_path, o, &r, [&](const SparseBatch& batch) -> Status {
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
    PST_RETURN_IF_ERROR(ForEachBatch(o.test_path, o, &r, [&](const SparseBatch& batch) -> Status {
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
