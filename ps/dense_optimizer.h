// The factory half of the dense optimizer registry (the descriptive half, in
// common/optimizer_catalog.h, holds names, slots and parameters). Each rule's
// update loop lives in its own ps/dense_<name>.cc, which registers a factory
// under its catalogued name; Optimizer::Create (ps/optimizer.h) looks the
// spec's rule up here. Included only by ps/optimizer.cc and the rule files.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/job_spec.h"
#include "common/status.h"
#include "ps/optimizer.h"

namespace pst {

// Step 0 is outside the 1-based contract. Treating it as step 1 keeps the
// learning rate and Adam's bias corrections finite instead of writing NaN or
// inf into the parameters (1 - beta^0 == 0 would divide by zero).
inline uint64_t ClampStep(uint64_t step) { return std::max<uint64_t>(step, 1); }

// The update loops are the PS hot path (up to ~10M floats per call). They are
// kept free of branches and of double arithmetic so the compiler can turn them
// into SIMD: every per-step scalar (learning rate, bias corrections) is computed
// once before the loop, and the kind is fixed by the subclass rather than tested
// per element. GCC 12 only vectorises them at -O3 (its -O2 cost model refuses
// loops that need an epilogue or alias checks; ps/CMakeLists.txt sets it for
// every dense_*.cc), and the sqrt loops additionally need -fno-math-errno,
// since sqrtf may set errno. Without __restrict the compiler adds a runtime
// overlap check per call instead of assuming params, grad and the slots are
// disjoint, which the header does not promise.
//
// The loops live in free functions built twice, for AVX2 and for baseline
// x86-64, and the loader picks one for the CPU it runs on (GCC's
// target_clones, which cannot apply to virtual functions). Both clones do the
// same IEEE operations per element (AVX2 does not bring FMA, so nothing is
// contracted), hence the same bits; AVX2 only processes twice the lanes.
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define PST_SIMD_CLONES __attribute__((target_clones("avx2", "default")))
#else
#define PST_SIMD_CLONES
#endif

// What a factory receives: a validated spec and the zeroed state slots,
// allocated by Create (where a failure can be reported) and moved in, so
// construction cannot fail. slot_names are the catalog's, in slot order.
struct DenseOptimizerState {
  OptimizerSpec spec;
  size_t n = 0;
  std::vector<std::string> slot_names;
  std::vector<std::vector<float>> slots;
};

// Owns the state slots; every rule derives from it.
class SlottedOptimizer : public Optimizer {
 public:
  std::vector<std::string> SlotNames() const override { return names_; }
  // Out-of-range i is a caller bug; nullptr fails fast instead of silently
  // reading past the slot table.
  float* slot(size_t i) override { return i < slots_.size() ? slots_[i].data() : nullptr; }

 protected:
  explicit SlottedOptimizer(DenseOptimizerState state)
      : Optimizer(state.spec, state.n),
        names_(std::move(state.slot_names)),
        slots_(std::move(state.slots)) {}

  std::vector<std::string> names_;
  std::vector<std::vector<float>> slots_;
};

using DenseOptimizerFactory = std::function<std::unique_ptr<Optimizer>(DenseOptimizerState)>;

// Catalogued name -> factory. Thread-compatible; Builtin() is immutable.
class DenseOptimizerFactories {
 public:
  // Every rule in common/optimizer_catalog.cc (each registered by its own file).
  static const DenseOptimizerFactories& Builtin();

  // kNotFound if name is not in the catalog (describe the rule there first),
  // kAlreadyExists if it already has a factory, kInvalidArgument if make is empty.
  Status Register(std::string name, DenseOptimizerFactory make);
  // nullptr if name has no factory.
  const DenseOptimizerFactory* Find(std::string_view name) const;
  std::vector<std::string> Names() const;

 private:
  std::map<std::string, DenseOptimizerFactory, std::less<>> factories_;
};

// Each rule file defines its registration; Builtin() calls them. (An explicit
// list rather than static initialisers: the linker drops objects of a static
// library that nothing references, and with them such initialisers.)
void RegisterDenseSgd(DenseOptimizerFactories& registry);
void RegisterDenseMomentum(DenseOptimizerFactories& registry);  // momentum, nesterov
void RegisterDenseAdagrad(DenseOptimizerFactories& registry);
void RegisterDenseAdam(DenseOptimizerFactories& registry);  // adam, adamw

}  // namespace pst
