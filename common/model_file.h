// Saving and loading a whole model as a safetensors file: one F32 tensor per
// layout tensor ("w0" [in,out], "b0" [out], ...) plus metadata describing the
// model ("pstrain.layers" = "784,128,10", "pstrain.activation" = "relu") so the
// file alone is enough to rebuild and evaluate it.
#pragma once

#include <string>
#include <vector>

#include "common/job_spec.h"
#include "common/model_layout.h"
#include "common/status.h"

namespace pst {

// params: layout.total() floats. Errors as WriteSafetensors.
Status SaveModel(const std::string& path, const ModelSpec& spec, const float* params);

struct LoadedModel {
  ModelSpec spec;
  std::vector<float> params;  // laid out as ModelLayout::FromSpec(spec)
};

// kDataLoss if the file is not a pstrain model (missing metadata or tensors,
// shapes that do not match the metadata); other errors as ReadSafetensors.
StatusOr<LoadedModel> LoadModel(const std::string& path);

}  // namespace pst
