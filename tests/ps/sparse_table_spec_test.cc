#include "ps/sparse_table_spec.h"

#include <catch2/catch.hpp>

namespace pst {
namespace {

TableSpec Sparse(OptimizerKind kind) {
  TableSpec t;
  t.name = "user_emb";
  t.kind = TableKind::kSparse;
  t.dim = 8;
  t.init = {TableInitKind::kUniform, 5, 0.05};
  t.optimizer.kind = kind;
  t.optimizer.learning_rate = 0.2f;
  return t;
}

TEST_CASE("SparseTableOptionsFromSpec maps init and optimizer", "[ps]") {
  auto o = SparseTableOptionsFromSpec(Sparse(OptimizerKind::kAdam));
  REQUIRE(o.ok());
  CHECK(o->name == "user_emb");
  CHECK(o->dim == 8);
  CHECK(o->init.kind == RowInitKind::kUniform);
  CHECK(o->init.seed == 5);
  CHECK(o->init.scale == 0.05f);
  CHECK(o->optimizer.name == "lazy_adam");
  CHECK(o->optimizer.params.at("lr") == Approx(0.2));
  CHECK(o->optimizer.params.at("beta2") == Approx(0.999));
  CHECK(SparseTableOptionsFromSpec(Sparse(OptimizerKind::kSgd))->optimizer.name == "sgd");
  CHECK(SparseTableOptionsFromSpec(Sparse(OptimizerKind::kAdagrad))->optimizer.name == "adagrad");
  TableSpec zeros = Sparse(OptimizerKind::kSgd);
  zeros.init = {};
  CHECK(SparseTableOptionsFromSpec(zeros)->init.kind == RowInitKind::kZeros);
}

TEST_CASE("SparseTableOptionsFromSpec takes a table's own rule, admission and eviction", "[ps]") {
  TableSpec t = Sparse(OptimizerKind::kMomentum);  // ignored: the table names its rule
  t.sparse_optimizer = "ftrl";
  t.sparse_optimizer_params = {{"l1", 1.0}, {"l2", 0.5}};
  t.admit_after = 4;
  t.evict_after_steps = 60;
  t.max_rows = 500;
  auto o = SparseTableOptionsFromSpec(t);
  REQUIRE(o.ok());
  CHECK(o->optimizer.name == "ftrl");
  CHECK(o->optimizer.params == SparseOptimizerParams{{"l1", 1.0}, {"l2", 0.5}});
  CHECK(o->admit_after == 4);
  CHECK(o->evict_after_steps == 60);
  CHECK(o->max_rows == 500);
  t.sparse_optimizer_params = {{"lr", 1.0}};  // ftrl has alpha, not lr
  CHECK(SparseTableOptionsFromSpec(t).status().code() == StatusCode::kInvalidArgument);
}

TEST_CASE("SparseTableOptionsFromSpec refuses what sparse rows cannot do", "[ps]") {
  CHECK_FALSE(SparseTableOptionsFromSpec(Sparse(OptimizerKind::kMomentum)).ok());
  CHECK_FALSE(SparseTableOptionsFromSpec(Sparse(OptimizerKind::kAdamW)).ok());
  TableSpec sched = Sparse(OptimizerKind::kSgd);
  sched.optimizer.schedule = LrSchedule::kCosine;
  CHECK_FALSE(SparseTableOptionsFromSpec(sched).ok());
  TableSpec dense = Sparse(OptimizerKind::kSgd);
  dense.kind = TableKind::kDense;
  CHECK_FALSE(SparseTableOptionsFromSpec(dense).ok());
}

}  // namespace
}  // namespace pst
