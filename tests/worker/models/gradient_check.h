// Test helper: random batches and parameters for the sparse models, and a
// central finite-difference check of every gradient a model returns.
#pragma once

#include <cmath>
#include <random>
#include <vector>

#include <catch2/catch.hpp>

#include "worker/models/sparse_model.h"

namespace pst::testing {

// A batch of n samples with `fields` fields of 1..max_per_cell features each,
// ids drawn from a small vocabulary (so ids repeat within and across samples),
// values in [0.5, 1.5), dense features in [0, 2) and random labels.
inline SparseBatch RandomBatch(size_t n, uint32_t fields, uint32_t dense, uint32_t max_per_cell,
                               uint64_t vocabulary, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> u(0.0f, 1.0f);
  SparseBatch batch;
  batch.num_fields = fields;
  batch.num_dense = dense;
  for (size_t i = 0; i < n; ++i) {
    batch.labels.push_back(u(rng) < 0.5f ? 1.0f : 0.0f);
    for (uint32_t j = 0; j < dense; ++j) batch.dense.push_back(2.0f * u(rng));
    for (uint32_t f = 0; f < fields; ++f) {
      const uint32_t count = 1 + static_cast<uint32_t>(u(rng) * max_per_cell) % max_per_cell;
      for (uint32_t c = 0; c < count; ++c) {
        batch.ids.push_back(1000 * f + static_cast<uint64_t>(u(rng) * vocabulary) % vocabulary);
        batch.values.push_back(0.5f + u(rng));
      }
      batch.offsets.push_back(static_cast<uint32_t>(batch.ids.size()));
    }
  }
  return batch;
}

// Parameters of `model` for `batch`, uniform in [-scale, scale) (dense tables
// too, so that no gradient is zero by construction).
struct RandomParams {
  UniqueIds ids;
  std::vector<std::vector<float>> sparse_rows;
  std::vector<std::vector<float>> dense;
  ModelParams params;

  RandomParams(const SparseModel& model, const SparseBatch& batch, float scale, uint32_t seed) {
    std::mt19937 rng(seed);
    std::uniform_real_distribution<float> u(-scale, scale);
    DedupIds(batch.ids, &ids);
    for (const TableSpec& t : model.tables()) {
      const bool sparse = t.kind == TableKind::kSparse;
      std::vector<float> values(sparse ? ids.size() * t.dim : t.size);
      for (float& v : values) v = u(rng);
      (sparse ? sparse_rows : dense).push_back(std::move(values));
    }
    for (const auto& rows : sparse_rows) params.sparse.push_back({&ids, rows.data()});
    for (const auto& d : dense) params.dense.push_back(d.data());
  }
};

// Compares every returned gradient with (L(p + h) - L(p - h)) / 2h, computed in
// float like the model; returns how many elements were checked.
inline size_t CheckGradients(SparseModel& model, const SparseBatch& batch, RandomParams& p,
                             float h = 1e-2f, double tolerance = 2e-2) {
  ModelGrads grads;
  auto loss = model.ForwardBackward(batch, p.params, &grads);
  REQUIRE(loss.ok());
  ModelGrads scratch;
  auto loss_at = [&]() {
    auto l = model.ForwardBackward(batch, p.params, &scratch);
    REQUIRE(l.ok());
    return *l;
  };
  size_t checked = 0;
  auto check_all = [&](std::vector<std::vector<float>>& values,
                       const std::vector<std::vector<float>>& analytic, const char* kind) {
    REQUIRE(values.size() == analytic.size());
    for (size_t t = 0; t < values.size(); ++t) {
      REQUIRE(values[t].size() == analytic[t].size());
      for (size_t e = 0; e < values[t].size(); ++e) {
        const float saved = values[t][e];
        values[t][e] = saved + h;
        const double up = loss_at();
        values[t][e] = saved - h;
        const double down = loss_at();
        values[t][e] = saved;
        const double numeric = (up - down) / (2.0 * h);
        INFO(kind << " table " << t << " element " << e);
        CHECK(analytic[t][e] == Approx(numeric).margin(tolerance).epsilon(tolerance));
        ++checked;
      }
    }
  };
  check_all(p.sparse_rows, grads.sparse, "sparse");
  check_all(p.dense, grads.dense, "dense");
  return checked;
}

}  // namespace pst::testing
