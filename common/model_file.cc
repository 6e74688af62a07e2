#include "common/model_file.h"

#include <cstring>
#include <map>
#include <sstream>

#include "common/safetensors.h"

namespace pst {

Status SaveModel(const std::string& path, const ModelSpec& spec, const float* params) {
  PST_ASSIGN_OR_RETURN(ModelLayout layout, ModelLayout::FromSpec(spec));
  // Written straight from params: a large model's worker has no room for a copy.
  std::vector<TensorView> tensors;
  for (const TensorInfo& t : layout.tensors()) {
    tensors.push_back({t.name,
                       t.is_bias ? std::vector<uint64_t>{t.cols} : std::vector<uint64_t>{t.rows, t.cols},
                       params + t.offset, t.size()});
  }
  std::string layers;
  for (uint32_t s : spec.layer_sizes) layers += (layers.empty() ? "" : ",") + std::to_string(s);
  std::map<std::string, std::string> meta{{"format", "pt"},
                                          {"pstrain.layers", layers},
                                          {"pstrain.activation", ActivationName(spec.activation)}};
  return WriteSafetensorViews(path, tensors, meta);
}

StatusOr<LoadedModel> LoadModel(const std::string& path) {
  PST_ASSIGN_OR_RETURN(SafetensorsFile file, ReadSafetensors(path));
  auto bad = [&](const std::string& why) { return Status::DataLoss(path + ": " + why); };
  auto layers_it = file.metadata.find("pstrain.layers");
  auto act_it = file.metadata.find("pstrain.activation");
  if (layers_it == file.metadata.end() || act_it == file.metadata.end())
    return bad("not a pstrain model (metadata pstrain.layers / pstrain.activation missing)");
  LoadedModel out;
  out.spec.layer_sizes.clear();
  std::stringstream ss(layers_it->second);
  std::string item;
  while (std::getline(ss, item, ',')) {
    char* end = nullptr;
    const unsigned long v = std::strtoul(item.c_str(), &end, 10);
    if (item.empty() || *end != '\0' || v == 0 || v > (1u << 24)) return bad("bad pstrain.layers");
    out.spec.layer_sizes.push_back(static_cast<uint32_t>(v));
  }
  auto act = ParseActivation(act_it->second);
  if (!act.ok()) return bad(act.status().message());
  out.spec.activation = *act;
  auto layout = ModelLayout::FromSpec(out.spec);
  if (!layout.ok()) return bad(layout.status().message());
  out.params.assign(layout->total(), 0.0f);
  std::map<std::string, const NamedTensor*> by_name;
  for (const NamedTensor& t : file.tensors) by_name[t.name] = &t;
  for (const TensorInfo& t : layout->tensors()) {
    auto it = by_name.find(t.name);
    if (it == by_name.end()) return bad("tensor " + t.name + " is missing");
    if (it->second->values.size() != t.size()) return bad("tensor " + t.name + " has the wrong size");
    std::memcpy(out.params.data() + t.offset, it->second->values.data(), t.size() * sizeof(float));
  }
  return out;
}

}  // namespace pst
