#include "common/model_layout.h"

#include <algorithm>
#include <cmath>

namespace pst {
namespace {

// splitmix64: a counter-based generator, so a key's initial value needs no
// state from the keys before it.
uint64_t Mix(uint64_t x) {
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

}  // namespace

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

void InitParams(const ModelSpec& spec, const ModelLayout& layout, uint64_t begin, uint64_t end,
                float* out) {
  for (const TensorInfo& t : layout.tensors()) {
    const uint64_t lo = std::max(begin, t.offset), hi = std::min(end, t.offset + t.size());
    if (lo >= hi) continue;
    if (t.is_bias) {
      std::fill(out + (lo - begin), out + (hi - begin), 0.0f);
      continue;
    }
    const double limit = spec.init == InitKind::kHe
                             ? std::sqrt(6.0 / double(t.rows))
                             : std::sqrt(6.0 / double(t.rows + t.cols));
    for (uint64_t k = lo; k < hi; ++k) {
      // Top 53 bits -> uniform double in [0, 1), then scaled to [-limit, limit).
      const double u = double(Mix(spec.seed * 0x100000001b3ull ^ Mix(k)) >> 11) * 0x1.0p-53;
      out[k - begin] = float((2.0 * u - 1.0) * limit);
    }
  }
}

}  // namespace pst
