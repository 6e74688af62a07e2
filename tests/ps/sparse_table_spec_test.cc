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
