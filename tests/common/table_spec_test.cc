#include "common/table_spec.h"

#include <catch2/catch.hpp>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <vector>

#include "common/job_spec.h"
#include "common/job_tables.h"
#include "common/model_layout.h"
#include "common/status.h"

namespace pst {
namespace {

TableSpec Dense(const std::string& name, uint64_t size, TableInitKind kind = TableInitKind::kZeros,
                uint64_t seed = 0, double scale = 0) {
  TableSpec t;
  t.name = name;
  t.size = size;
  t.init = {kind, seed, scale};
  return t;
}

// The splitmix64 draw the header documents, written out independently.
uint64_t SplitMix(uint64_t x) {
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}
float Documented(uint64_t seed, uint64_t key, double scale) {
  const double u =
      double(SplitMix(seed * 0x100000001b3ull ^ SplitMix(key)) >> 11) / 9007199254740992.0;
  return float((2.0 * u - 1.0) * scale);
}

bool BitEqual(const std::vector<float>& a, const std::vector<float>& b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0;
}

TEST_CASE("TableSpec: validation names the table and the field", "[common]") {
  CHECK(ValidateTableSpec(Dense("w0", 10)).ok());
  auto code = [](const TableSpec& t) { return ValidateTableSpec(t).code(); };
  CHECK(code(Dense("", 10)) == StatusCode::kInvalidArgument);
  CHECK(code(Dense("has space", 10)) == StatusCode::kInvalidArgument);
  CHECK(code(Dense(std::string(65, 'a'), 10)) == StatusCode::kInvalidArgument);
  CHECK(code(Dense("w0", 0)) == StatusCode::kInvalidArgument);
  TableSpec t = Dense("w0", 10);
  t.dim = 4;
  CHECK(code(t) == StatusCode::kInvalidArgument);
  TableSpec sparse;
  sparse.name = "emb";
  sparse.kind = TableKind::kSparse;
  sparse.dim = 8;
  CHECK(ValidateTableSpec(sparse).ok());
  sparse.size = 5;
  CHECK(code(sparse) == StatusCode::kInvalidArgument);
  sparse.size = 0;
  sparse.dim = 0;
  CHECK(code(sparse) == StatusCode::kInvalidArgument);
  for (double bad :
       {-1.0, std::numeric_limits<double>::infinity(), std::numeric_limits<double>::quiet_NaN()})
    CHECK(code(Dense("w", 3, TableInitKind::kUniform, 1, bad)) == StatusCode::kInvalidArgument);
  t = Dense("w0", 10);
  t.optimizer.learning_rate = -1;
  const Status s = ValidateTableSpec(t);
  CHECK(s.code() == StatusCode::kInvalidArgument);
  CHECK(s.message().find("w0") != std::string::npos);
}

TEST_CASE("TableSpec: a table set needs tables with unique names", "[common]") {
  CHECK(ValidateTables({}).code() == StatusCode::kInvalidArgument);
  CHECK(ValidateTables({Dense("a", 1), Dense("b", 2)}).ok());
  const Status dup = ValidateTables({Dense("a", 1), Dense("a", 2)});
  CHECK(dup.code() == StatusCode::kInvalidArgument);
  CHECK(dup.message().find("twice") != std::string::npos);
}

TEST_CASE("TableSpec: dense tables lie back to back and initialise per key", "[common]") {
  TableSpec sparse;
  sparse.name = "emb";
  sparse.kind = TableKind::kSparse;
  sparse.dim = 4;
  const std::vector<TableSpec> tables = {Dense("w", 100, TableInitKind::kUniform, 7, 0.5), sparse,
                                         Dense("b", 20),
                                         Dense("v", 30, TableInitKind::kUniform, 9, 2.0)};
  REQUIRE(ValidateTables(tables).ok());
  CHECK(DenseKeyCount(tables) == 150);  // the sparse table takes no dense keys
  std::vector<float> all(150);
  InitDenseKeys(tables, 0, 150, all.data());
  for (uint64_t k = 0; k < 100; ++k) CHECK(all[k] == Documented(7, k, 0.5));
  for (uint64_t k = 100; k < 120; ++k) CHECK(all[k] == 0.0f);
  for (uint64_t k = 120; k < 150; ++k) {
    CHECK(all[k] == Documented(9, k, 2.0));
    CHECK(std::abs(all[k]) <= 2.0f);
  }
  // Any slicing gives the same values.
  for (uint64_t cut : {0, 1, 99, 100, 110, 120, 149, 150}) {
    std::vector<float> lo(cut), hi(150 - cut);
    InitDenseKeys(tables, 0, cut, lo.data());
    InitDenseKeys(tables, cut, 150, hi.data());
    lo.insert(lo.end(), hi.begin(), hi.end());
    CHECK(BitEqual(lo, all));
  }
}

TEST_CASE("JobTables: the MLP declares one dense table per tensor", "[common]") {
  JobSpec job;
  job.model.layer_sizes = {784, 128, 10};
  job.model.seed = 3;
  job.optimizer.kind = OptimizerKind::kSgd;
  StatusOr<std::vector<TableSpec>> tables = JobTables(job);
  REQUIRE(tables.ok());
  const StatusOr<ModelLayout> layout = ModelLayout::FromSpec(job.model);
  REQUIRE(layout.ok());
  REQUIRE(tables->size() == layout->tensors().size());
  for (size_t i = 0; i < tables->size(); ++i) {
    const TableSpec& t = (*tables)[i];
    const TensorInfo& tensor = layout->tensors()[i];
    CHECK(t.name == tensor.name);
    CHECK(t.kind == TableKind::kDense);
    CHECK(t.size == tensor.size());
    CHECK(t.optimizer == job.optimizer);
    CHECK(t.init.kind == (tensor.is_bias ? TableInitKind::kZeros : TableInitKind::kUniform));
    if (!tensor.is_bias) {
      CHECK(t.init.seed == 3);
      CHECK(t.init.scale == std::sqrt(6.0 / double(tensor.rows)));  // He
    }
  }
  CHECK(DenseKeyCount(*tables) == layout->total());
  job.model.init = InitKind::kXavier;
  CHECK(JobTables(job)->front().init.scale == std::sqrt(6.0 / (784.0 + 128.0)));
  job.model.layer_sizes = {5};
  CHECK(JobTables(job).status().code() == StatusCode::kInvalidArgument);
}

TEST_CASE("JobTables: sparse models declare their sparse and dense tables", "[common]") {
  JobSpec job;
  job.optimizer.kind = OptimizerKind::kAdagrad;
  job.sparse_data.train = "train.svm";
  job.sparse_data.test = "test.svm";
  job.model.kind = ModelKind::kLr;
  StatusOr<std::vector<TableSpec>> lr = JobTables(job);
  REQUIRE(lr.ok());
  REQUIRE(lr->size() == 2);
  CHECK((*lr)[0].name == "lr.rows");
  CHECK((*lr)[0].kind == TableKind::kSparse);
  CHECK((*lr)[0].dim == 1);
  CHECK((*lr)[0].init.kind == TableInitKind::kZeros);
  CHECK((*lr)[1].name == "lr.dense");
  CHECK((*lr)[1].size == 1);  // libsvm: no dense features, only the bias

  job.model.kind = ModelKind::kFm;
  job.model.factors = 4;
  job.model.seed = 9;
  SparseTableConfig c;
  c.name = "fm.rows";
  c.optimizer = "ftrl";
  c.params = {{"l1", 0.5}};
  c.admit_after = 3;
  c.evict_after_steps = 100;
  c.seed = 21;
  job.sparse_tables = {c};
  StatusOr<std::vector<TableSpec>> fm = JobTables(job);
  REQUIRE(fm.ok());
  const TableSpec& rows = (*fm)[0];
  CHECK(rows.dim == 5);
  CHECK(rows.init.kind == TableInitKind::kUniform);
  CHECK(rows.init.seed == 21);  // the table's own seed over model.seed
  CHECK(rows.sparse_optimizer == "ftrl");
  CHECK(rows.sparse_optimizer_params == SparseOptimizerParams{{"l1", 0.5}});
  CHECK(rows.admit_after == 3);
  CHECK(rows.evict_after_steps == 100);
  CHECK((*fm)[1].optimizer == job.optimizer);
  CHECK(ValidateTables(*fm).ok());

  job.model.kind = ModelKind::kEmbeddingMlp;
  job.sparse_tables.clear();
  job.sparse_data.format = DataFormat::kCriteoTsv;
  job.sparse_data.dense_features = 2;
  job.sparse_data.categorical_fields = 3;
  job.model.embedding_dim = 4;
  job.model.hidden = {8};
  StatusOr<std::vector<TableSpec>> mlp = JobTables(job);
  REQUIRE(mlp.ok());
  REQUIRE(mlp->size() == 5);
  CHECK((*mlp)[0].name == "dlrm.emb");
  CHECK((*mlp)[1].name == "dlrm.w0");
  CHECK((*mlp)[1].size == (3 * 4 + 2) * 8);
  CHECK((*mlp)[4].name == "dlrm.b1");
  CHECK((*mlp)[4].size == 1);
  CHECK(DenseKeyCount(*mlp) == (3 * 4 + 2) * 8 + 8 + 8 + 1);
}

}  // namespace
}  // namespace pst
