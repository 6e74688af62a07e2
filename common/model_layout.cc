#include "common/model_layout.h"

#include <algorithm>
#include <cmath>

namespace pst {

StatusOr<ModelLayout> ModelLayout::FromSpec(const ModelSpec& spec) {
  PST_RETURN_IF_ERROR(ValidateModelSpec(spec));
  ModelLayout layout;
  uint64_t offset = 0;
  for (size_t l = 0; l + 1 < spec.layer_sizes.size(); ++l) {
    const uint64_t in = spec.layer_sizes[l], out = spec.layer_sizes[l + 1];
    layout.tensors_.push_back({"w" + std::to_string(l), offset, in, out, false});
    offset += in * out;
    layout.tensors_.push_back({"b" + std::to_string(l), offset, 1, out, true});
    offset += out;
  }
  layout.total_ = offset;
  return layout;
}

std::vector<TableSpec> MlpTables(const ModelSpec& spec, const ModelLayout& layout,
                                 const OptimizerSpec& optimizer) {
  std::vector<TableSpec> tables;
  for (const TensorInfo& t : layout.tensors()) {
    TableSpec table;
    table.name = t.name;
    table.kind = TableKind::kDense;
    table.size = t.size();
    table.optimizer = optimizer;
    if (!t.is_bias) {
      table.init.kind = TableInitKind::kUniform;
      table.init.seed = spec.seed;
      table.init.scale = spec.init == InitKind::kHe ? std::sqrt(6.0 / double(t.rows))
                                                    : std::sqrt(6.0 / double(t.rows + t.cols));
    }
    tables.push_back(std::move(table));
  }
  return tables;
}

void InitParams(const ModelSpec& spec, const ModelLayout& layout, uint64_t begin, uint64_t end,
                float* out) {
  InitDenseKeys(MlpTables(spec, layout, OptimizerSpec{}), begin, end, out);
}

}  // namespace pst
