#include "worker/models/model_factory.h"

#include <fmt/format.h>

#include "worker/models/embedding_mlp.h"
#include "worker/models/factorization_machine.h"

namespace pst {

namespace {

template <typename T>
StatusOr<std::unique_ptr<SparseModel>> Upcast(StatusOr<std::unique_ptr<T>> model) {
  if (!model.ok()) return model.status();
  return std::unique_ptr<SparseModel>(std::move(*model));
}

}  // namespace

StatusOr<std::unique_ptr<SparseModel>> CreateSparseModel(const SparseModelConfig& c) {
  if (c.kind == "lr") return Upcast(CreateLogisticRegression(c.num_dense));
  if (c.kind == "fm") {
    FactorizationMachineOptions fm;
    fm.num_dense = c.num_dense;
    fm.num_factors = c.num_factors;
    fm.init_scale = c.init_scale;
    fm.seed = c.seed;
    return Upcast(FactorizationMachine::Create(fm));
  }
  if (c.kind == "dlrm") {
    EmbeddingMlpOptions mlp;
    mlp.num_fields = c.num_fields;
    mlp.num_dense = c.num_dense;
    mlp.embedding_dim = c.embedding_dim;
    mlp.hidden = c.hidden;
    mlp.init_scale = c.init_scale;
    mlp.seed = c.seed;
    return Upcast(EmbeddingMlp::Create(mlp));
  }
  return Status::InvalidArgument(
      fmt::format("unknown sparse model '{}' (expected lr, fm or dlrm)", c.kind));
}

}  // namespace pst
