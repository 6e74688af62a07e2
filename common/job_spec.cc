#include "common/job_spec.h"

#include <cmath>
#include <string>

#include "common/consistency.h"
#include "common/optimizer_catalog.h"
#include "common/sparse_model_tables.h"

namespace pst {
namespace {

template <typename E, size_t N>
StatusOr<E> ParseName(const std::string& what, const std::string& name,
                      const std::pair<const char*, E> (&table)[N]) {
  std::string allowed;
  for (const auto& [n, e] : table) {
    if (name == n) return e;
    allowed += allowed.empty() ? "" : "|";
    allowed += n;
  }
  return Status::InvalidArgument("unknown " + what + " '" + name + "' (allowed: " + allowed + ")");
}

template <typename E, size_t N>
const char* NameOf(E e, const std::pair<const char*, E> (&table)[N]) {
  for (const auto& [n, v] : table)
    if (v == e) return n;
  return "?";
}

constexpr std::pair<const char*, Activation> kActivations[] = {
    {"relu", Activation::kRelu}, {"tanh", Activation::kTanh}, {"sigmoid", Activation::kSigmoid}};
constexpr std::pair<const char*, InitKind> kInits[] = {{"xavier", InitKind::kXavier},
                                                       {"he", InitKind::kHe}};
constexpr std::pair<const char*, LossKind> kLosses[] = {{"softmax", LossKind::kSoftmax},
                                                        {"squared", LossKind::kSquared},
                                                        {"logistic", LossKind::kLogistic}};
constexpr std::pair<const char*, LrSchedule> kSchedules[] = {
    {"constant", LrSchedule::kConstant}, {"step", LrSchedule::kStep}, {"cosine", LrSchedule::kCosine}};
constexpr std::pair<const char*, Consistency> kConsistencies[] = {
    {"bsp", Consistency::kBsp}, {"asp", Consistency::kAsp}, {"ssp", Consistency::kSsp}};

constexpr std::pair<const char*, ModelKind> kModelKinds[] = {{"mlp", ModelKind::kMlp},
                                                             {"lr", ModelKind::kLr},
                                                             {"fm", ModelKind::kFm},
                                                             {"embedding_mlp", ModelKind::kEmbeddingMlp}};
constexpr std::pair<const char*, DataFormat> kDataFormats[] = {{"libsvm", DataFormat::kLibsvm},
                                                               {"criteo", DataFormat::kCriteoTsv}};

bool Finite(float v) { return std::isfinite(v); }

}  // namespace

StatusOr<Activation> ParseActivation(const std::string& n) { return ParseName("activation", n, kActivations); }
StatusOr<InitKind> ParseInitKind(const std::string& n) { return ParseName("init", n, kInits); }
StatusOr<LossKind> ParseLossKind(const std::string& n) { return ParseName("loss", n, kLosses); }
const char* LossKindName(LossKind k) { return NameOf(k, kLosses); }
StatusOr<OptimizerKind> ParseOptimizerKind(const std::string& n) {
  if (const DenseOptimizerInfo* rule = FindDenseOptimizer(n)) return rule->kind;
  return Status::InvalidArgument("unknown optimizer '" + n + "' (allowed: " + DenseOptimizerNames("|") + ")");
}
StatusOr<LrSchedule> ParseLrSchedule(const std::string& n) { return ParseName("lr schedule", n, kSchedules); }
StatusOr<Consistency> ParseConsistency(const std::string& n) { return ParseName("consistency", n, kConsistencies); }
StatusOr<ModelKind> ParseModelKind(const std::string& n) { return ParseName("model kind", n, kModelKinds); }
StatusOr<DataFormat> ParseDataFormat(std::string_view n) {
  return ParseName("data format", std::string(n), kDataFormats);
}
const char* ModelKindName(ModelKind k) { return NameOf(k, kModelKinds); }
const char* DataFormatName(DataFormat f) { return NameOf(f, kDataFormats); }
const char* ActivationName(Activation a) { return NameOf(a, kActivations); }
const char* InitKindName(InitKind k) { return NameOf(k, kInits); }
const char* OptimizerKindName(OptimizerKind k) {
  const DenseOptimizerInfo* rule = FindDenseOptimizer(k);
  return rule == nullptr ? "?" : rule->name.c_str();
}
const char* LrScheduleName(LrSchedule s) { return NameOf(s, kSchedules); }
const char* ConsistencyName(Consistency c) { return NameOf(c, kConsistencies); }

Status ValidateModelSpec(const ModelSpec& s) {
  if (s.layer_sizes.size() < 2)
    return Status::InvalidArgument("model.layers: need at least 2 sizes (inputs and classes)");
  if (s.layer_sizes.size() > 64)
    return Status::InvalidArgument("model.layers: at most 64 layers are allowed");
  uint64_t total = 0;
  for (size_t i = 0; i < s.layer_sizes.size(); ++i) {
    if (s.layer_sizes[i] == 0 || s.layer_sizes[i] > (1u << 24))
      return Status::InvalidArgument("model.layers: every size must be in [1, 16777216]");
    if (i + 1 < s.layer_sizes.size())
      total += uint64_t{s.layer_sizes[i]} * s.layer_sizes[i + 1] + s.layer_sizes[i + 1];
  }
  if (s.layer_sizes.back() < 2)
    return Status::InvalidArgument("model.layers: the last size (classes) must be at least 2");
  if (total > (1ull << 32))
    return Status::InvalidArgument("model.layers: the model would have more than 2^32 parameters");
  if (s.factors == 0 || s.factors > 1024)
    return Status::InvalidArgument("model.factors: must be in [1, 1024]");
  if (s.embedding_dim == 0 || s.embedding_dim > 1024)
    return Status::InvalidArgument("model.embedding_dim: must be in [1, 1024]");
  if (s.hidden.size() > 16) return Status::InvalidArgument("model.hidden: at most 16 layers");
  for (uint32_t h : s.hidden)
    if (h == 0 || h > 65536)
      return Status::InvalidArgument("model.hidden: every width must be in [1, 65536]");
  if (!(s.init_scale >= 0 && s.init_scale <= 10))
    return Status::InvalidArgument("model.init_scale: must be in [0, 10]");
  return Status::OK();
}

Status ValidateSparseDataSpec(const SparseDataSpec& d) {
  if (d.train.empty())
    return Status::InvalidArgument("data.train: a sparse model needs its training file (data.train = \"path\")");
  if (d.test.empty())
    return Status::InvalidArgument("data.test: a sparse model needs its test file (data.test = \"path\")");
  if (d.format == DataFormat::kCriteoTsv) {
    if (d.dense_features > 1024)
      return Status::InvalidArgument("data.dense_features: must be in [0, 1024]");
    if (d.categorical_fields == 0 || d.categorical_fields > 1024)
      return Status::InvalidArgument("data.categorical_fields: must be in [1, 1024]");
  }
  return Status::OK();
}

Status ValidateOptimizerSpec(const OptimizerSpec& s) {
  PST_RETURN_IF_ERROR(ValidateDenseOptimizerParams(s));
  if (s.schedule == LrSchedule::kStep) {
    if (s.step_size == 0) return Status::InvalidArgument("optimizer.step_size: must be >= 1");
    if (!Finite(s.step_gamma) || s.step_gamma <= 0 || s.step_gamma > 1)
      return Status::InvalidArgument("optimizer.step_gamma: must be in (0, 1]");
  }
  if (!Finite(s.clip_norm) || s.clip_norm < 0)
    return Status::InvalidArgument("optimizer.clip_norm: must be >= 0 (0 = off)");
  if (s.schedule == LrSchedule::kCosine && s.total_steps <= s.warmup_steps)
    return Status::InvalidArgument("optimizer.total_steps: must be greater than warmup_steps");
  return Status::OK();
}

Status ValidateTrainSpec(const TrainSpec& s) {
  if (s.batch_size == 0 || s.batch_size > 65536)
    return Status::InvalidArgument("train.batch_size: must be in [1, 65536]");
  if (s.epochs == 0 || s.epochs > 100000)
    return Status::InvalidArgument("train.epochs: must be in [1, 100000]");
  if (s.batches_per_shard < 2 || s.batches_per_shard > 1000000)
    return Status::InvalidArgument("train.batches_per_shard: must be in [2, 1000000]");
  if (s.staleness > 1000) return Status::InvalidArgument("train.staleness: must be in [0, 1000]");
  if (!(s.target_accuracy >= 0 && s.target_accuracy <= 1))
    return Status::InvalidArgument("train.target_accuracy: must be in [0, 1] (0 = off)");
  if (!(s.target_auc >= 0 && s.target_auc <= 1))
    return Status::InvalidArgument("train.target_auc: must be in [0, 1] (0 = off)");
  if (s.block_keys != 0 && (s.block_keys < 256 || s.block_keys > (1ull << 28)))
    return Status::InvalidArgument("train.block_keys: must be 0 (automatic) or in [256, 268435456]");
  return Status::OK();
}

Status ValidateCheckpointSpec(const CheckpointSpec& c) {
  if (c.keep == 0 || c.keep > 1000)
    return Status::InvalidArgument("checkpoint.keep: must be in [1, 1000]");
  if (c.every_seconds > 7 * 24 * 3600)
    return Status::InvalidArgument("checkpoint.every_seconds: must be at most a week (604800)");
  return Status::OK();
}

Status ValidateNetworkSpec(const NetworkSpec& n) {
  if (n.bind.empty()) return Status::InvalidArgument("network.bind: must not be empty (e.g. 127.0.0.1)");
  if (n.admin_bind.empty())
    return Status::InvalidArgument("network.admin_bind: must not be empty (e.g. 127.0.0.1)");
  if (n.scheduler_port > 65535)
    return Status::InvalidArgument("network.scheduler_port: must be in [0, 65535]");
  if (n.admin_port < -1 || n.admin_port > 65535)
    return Status::InvalidArgument("network.admin_port: must be in [0, 65535], or -1 to disable it");
  if (n.heartbeat_ms == 0 || n.heartbeat_ms > 600000)
    return Status::InvalidArgument("network.heartbeat_ms: must be in [1, 600000]");
  if (n.heartbeat_timeout_ms <= n.heartbeat_ms)
    return Status::InvalidArgument("network.heartbeat_timeout_ms: must be longer than heartbeat_ms");
  if (n.max_clients == 0) return Status::InvalidArgument("network.max_clients: must be at least 1");
  if (n.max_in_flight_per_client == 0)
    return Status::InvalidArgument("network.max_in_flight_per_client: must be at least 1");
  if (n.max_frame_bytes < 4 || n.max_frame_bytes > (uint64_t{1} << 40))
    return Status::InvalidArgument("network.max_frame_bytes: must be in [4, 2^40]");
  if (n.max_ids_per_request == 0)
    return Status::InvalidArgument("network.max_ids_per_request: must be at least 1");
  return Status::OK();
}

Status ValidateJobSpec(const JobSpec& s) {
  PST_RETURN_IF_ERROR(ValidateModelSpec(s.model));
  PST_RETURN_IF_ERROR(ValidateOptimizerSpec(s.optimizer));
  PST_RETURN_IF_ERROR(ValidateTrainSpec(s.train));
  PST_RETURN_IF_ERROR(ValidateCheckpointSpec(s.checkpoint));
  PST_RETURN_IF_ERROR(ValidateNetworkSpec(s.network));
  if (s.data_dir.empty()) return Status::InvalidArgument("data.dir: must not be empty");
  if (s.num_servers == 0 || s.num_servers > 256)
    return Status::InvalidArgument("cluster.servers: must be in [1, 256]");
  if (s.num_workers == 0 || s.num_workers > 1024)
    return Status::InvalidArgument("cluster.workers: must be in [1, 1024]");
  if (!s.sparse()) {
    if (!s.sparse_tables.empty())
      return Status::InvalidArgument("sparse_table: only sparse models (model.kind = lr, fm or "
                                     "embedding_mlp) have sparse tables");
    if (s.train.target_auc != 0)
      return Status::InvalidArgument("train.target_auc: only for sparse models (binary "
                                     "classifiers); the MLP has train.target_accuracy");
    return Status::OK();
  }
  PST_RETURN_IF_ERROR(ValidateSparseDataSpec(s.sparse_data));
  return SparseModelTables(s).status();
}

uint64_t BlockKeys(const TrainSpec& train) {
  if (train.block_keys != 0) return train.block_keys;
  return ConsistencyPolicy(train).prefetch() ? kPrefetchBlockKeys : kPipelinedBlockKeys;
}

}  // namespace pst
