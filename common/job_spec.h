// The description of a training job: model, optimizer and schedule. Plain
// structs with defaults (the default job is the Fashion-MNIST MLP); filled once
// at the edge (CLI flags / job file / wire) and checked with Validate*().
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace pst {

// Parameter values of a sparse row update rule by name, e.g. {{"alpha", 0.05},
// {"l1", 1.0}} (common/sparse_optimizer_catalog.h lists the rules).
using SparseOptimizerParams = std::map<std::string, double, std::less<>>;

enum class Activation : uint8_t { kRelu = 0, kTanh = 1, kSigmoid = 2 };
enum class InitKind : uint8_t { kXavier = 0, kHe = 1 };
// The output layer's loss. kSoftmax: softmax cross-entropy (with no hidden
// layer, softmax regression). kSquared: half the squared error against one-hot
// targets (with no hidden layer, linear regression). kLogistic: a sigmoid and
// binary cross-entropy per class, one-vs-rest (with no hidden layer, logistic
// regression). Predictions are the arg-max output in every case.
enum class LossKind : uint8_t { kSoftmax = 0, kSquared = 1, kLogistic = 2 };

// What a job trains. kMlp: the dense MLP on IDX images (model.layers). The
// others are binary classifiers on sparse data files (data.format, data.train,
// data.test) with sparse embedding tables on the PS (common/sparse_model_tables.h):
// kLr logistic regression on hashed features, kFm a factorization machine,
// kEmbeddingMlp sum-pooled embeddings per field + dense features into an MLP.
enum class ModelKind : uint8_t { kMlp = 0, kLr = 1, kFm = 2, kEmbeddingMlp = 3 };

struct ModelSpec {
  // Which model. Default: mlp.
  ModelKind kind = ModelKind::kMlp;
  // Units per layer, input first, classes last: {784, 128, 10} is one hidden
  // layer. Two entries give softmax regression. Default: {784, 128, 10}.
  std::vector<uint32_t> layer_sizes{784, 128, 10};
  // Hidden-layer non-linearity. Default: ReLU.
  Activation activation = Activation::kRelu;
  // Weight initialisation (uniform Xavier/Glorot or He); biases start at 0. Default: He.
  InitKind init = InitKind::kHe;
  // Seed for weight initialisation and data shuffling. Default: 1.
  uint64_t seed = 1;
  // Output loss. Default: softmax cross-entropy.
  LossKind loss = LossKind::kSoftmax;
  // fm: latent factors per id, in [1, 1024]. Default: 8.
  uint32_t factors = 8;
  // embedding_mlp: floats per embedding row, in [1, 1024]. Default: 16.
  uint32_t embedding_dim = 16;
  // embedding_mlp: hidden layer widths, each in [1, 65536] (may be empty).
  // Default: {64, 32}.
  std::vector<uint32_t> hidden{64, 32};
  // fm, embedding_mlp: sparse rows start uniform in [-init_scale, init_scale)
  // (lr rows start at 0); in [0, 10]. Default: 0.01.
  float init_scale = 0.01f;

  bool operator==(const ModelSpec&) const = default;
};

enum class OptimizerKind : uint8_t {
  kSgd = 0,
  kMomentum = 1,
  kNesterov = 2,
  kAdagrad = 3,
  kAdam = 4,
  kAdamW = 5,
};

enum class LrSchedule : uint8_t { kConstant = 0, kStep = 1, kCosine = 2 };

struct OptimizerSpec {
  // Update rule applied on the parameter servers. Default: Adam.
  OptimizerKind kind = OptimizerKind::kAdam;
  // Base learning rate. Default: 0.001.
  float learning_rate = 0.001f;
  // Momentum coefficient for kMomentum / kNesterov. Default: 0.9.
  float momentum = 0.9f;
  // Adam/AdamW moment decay rates. Defaults: 0.9, 0.999.
  float beta1 = 0.9f;
  float beta2 = 0.999f;
  // Added to denominators (Adagrad, Adam). Default: 1e-8.
  float epsilon = 1e-8f;
  // Decoupled weight decay (AdamW) or L2 added to the gradient (others). Default: 0.
  float weight_decay = 0.0f;
  // Learning-rate schedule over optimizer steps. Default: constant.
  LrSchedule schedule = LrSchedule::kConstant;
  // kStep: multiply the rate by step_gamma every step_size steps. Defaults: 1000, 0.1.
  uint64_t step_size = 1000;
  float step_gamma = 0.1f;
  // kCosine: linear warm-up for warmup_steps, then cosine decay to 0 at total_steps.
  // Defaults: 0, 10000.
  uint64_t warmup_steps = 0;
  uint64_t total_steps = 10000;
  // Gradient clipping: if the global L2 norm (over every tensor) of a worker's
  // mean gradient for a step exceeds this, the gradient is scaled down to it
  // before it is pushed (per worker, as data-parallel replicas clip their own
  // gradients). Blocks are then pushed after the whole backward pass, since the
  // norm is only known at its end. 0 = off. Default: 0.
  float clip_norm = 0.0f;

  bool operator==(const OptimizerSpec&) const = default;
};

enum class Consistency : uint8_t { kBsp = 0, kAsp = 1, kSsp = 2 };

struct TrainSpec {
  // Samples per worker per step. Default: 64.
  uint32_t batch_size = 64;
  // Passes over the training set. Default: 5.
  uint32_t epochs = 5;
  // Batches in one data shard (the unit a worker leases from the scheduler). At
  // least 2 so the BSP schedule is independent of message timing. Default: 16.
  uint32_t batches_per_shard = 16;
  // Use only the first N training samples (0 = all). Default: 0.
  uint64_t train_limit = 0;
  // Evaluate on only the first N test samples (0 = all). Default: 0.
  uint64_t test_limit = 0;
  // How worker updates are combined. Default: BSP.
  Consistency consistency = Consistency::kBsp;
  // SSP staleness bound in clocks. Default: 0.
  uint32_t staleness = 0;
  // Stop the job as soon as an epoch's test accuracy reaches this (0 = train
  // every epoch). Default: 0.
  float target_accuracy = 0;
  // Sparse models: stop the job as soon as an epoch's test AUC reaches this
  // (0 = off). Default: 0.
  float target_auc = 0;
  // Transfer and update granularity in keys: each PS splits its key range into
  // blocks of this size, versioned and updated independently, and workers send
  // each block's gradient as soon as it is computed (overlapping communication
  // with the backward pass) and start the next forward pass on the blocks that
  // have arrived. Smaller blocks overlap more but cost more messages (see the
  // README's benchmarks). 0 = automatic, see BlockKeys(). Default: 0.
  uint64_t block_keys = 0;

  bool operator==(const TrainSpec&) const = default;
};

// The block size the PS and the workers use: block_keys if set, otherwise
// kPipelinedBlockKeys, or kPrefetchBlockKeys when workers prefetch (SSP with a
// staleness bound of at least 1). A prefetched step's transfers overlap a
// whole step of compute, so fewer, larger messages are cheaper there; without
// prefetch, smaller blocks let transfers overlap the pass they belong to.
inline constexpr uint64_t kPipelinedBlockKeys = uint64_t{1} << 16;
inline constexpr uint64_t kPrefetchBlockKeys = uint64_t{1} << 20;
uint64_t BlockKeys(const TrainSpec& train);

// Coordinated checkpoints: the scheduler asks every PS to capture its shard at
// one clock boundary; a checkpoint counts once every shard has written it
// durably (see ps/param_store.h).
struct CheckpointSpec {
  // Checkpoint every N clocks (training steps of one worker; 0 = off).
  // Default: 500.
  uint64_t every_steps = 500;
  // Also checkpoint when this many seconds passed since the last one (0 = off).
  // Default: 0.
  uint32_t every_seconds = 0;
  // Complete checkpoints each PS keeps on disk (older ones are pruned); at
  // least 1. Default: 3.
  uint32_t keep = 3;

  bool operator==(const CheckpointSpec&) const = default;
};

// Where the processes of a job listen and how they watch each other. Used by
// `pstrain launch` and pstrain-scheduler (their flags override it).
struct NetworkSpec {
  // Interface every process binds: an IP, or 0.0.0.0 for all. Default: 127.0.0.1.
  std::string bind = "127.0.0.1";
  // Host name or IP the scheduler advertises to nodes ("" = the bind
  // address). Default: "".
  std::string advertise;
  // The scheduler's TCP port (0 = any free one). Default: 0.
  uint32_t scheduler_port = 0;
  // The HTTP admin endpoint's interface and port (0 = any free one, -1 = off).
  // Defaults: 127.0.0.1, 0.
  std::string admin_bind = "127.0.0.1";
  int32_t admin_port = 0;
  // Heartbeat interval, and the silence after which a node is dead.
  // Defaults: 500 ms, 10000 ms.
  uint32_t heartbeat_ms = 500;
  uint32_t heartbeat_timeout_ms = 10000;
  // Most heartbeats per second the scheduler asks of the whole job: a job
  // with more nodes than this per heartbeat_ms gets a longer interval (at
  // most heartbeat_timeout_ms / 4). 0 = always heartbeat_ms. Default: 500.
  uint32_t max_heartbeats_per_second = 500;
  // The cluster's key directory (`pstrain keygen DIR`): with it every
  // connection uses CurveZMQ and only key holders may join; the admin
  // endpoint's POSTs need its admin.token. "" = plain TCP. Default: "".
  std::string key_dir;
  // Limits every server (the scheduler, each PS) applies to what it receives;
  // a request over one gets a kResourceExhausted reply and is counted on
  // /metrics (pstrain_limit_refusals_total). Most clients a server answers
  // (ZeroMQ connections that sent a request). Default: 16384.
  uint32_t max_clients = 16384;
  // Most requests a server holds for one client (a PS's pulls waiting for a
  // model version). Default: 65536.
  uint32_t max_in_flight_per_client = 65536;
  // Largest float frame accepted, in bytes (a dense block or a sparse push's
  // rows). A frame over twice this (plus 4 MiB) makes ZeroMQ drop the
  // connection instead, with no reply. Default: 2^30 (1 GiB).
  uint64_t max_frame_bytes = uint64_t{1} << 30;
  // Most ids in one sparse pull or push. Default: 2^18.
  uint32_t max_ids_per_request = uint32_t{1} << 18;

  bool operator==(const NetworkSpec&) const = default;
};

// Line format of sparse data files.
enum class DataFormat : uint8_t {
  kLibsvm = 0,     // libsvm / svmlight text, one field
  kCriteoTsv = 1,  // Criteo-style TSV: label, integer features, hashed categories
};

// The data of a sparse model ([data] in a job file): a training and a test
// file that workers stream (the scheduler leases byte ranges of the training
// file's records; any worker may be asked to evaluate on the test file).
struct SparseDataSpec {
  // Line format of both files. Default: libsvm.
  DataFormat format = DataFormat::kLibsvm;
  // Paths of the training and test files, as every worker sees them. Required
  // for a sparse model.
  std::string train;
  std::string test;
  // criteo: integer features and categorical fields per line, in [0, 1024]
  // and [1, 1024]. Defaults: 13, 26.
  uint32_t dense_features = 13;
  uint32_t categorical_fields = 26;
  // criteo: seed of the per-field feature hash. Default: 0.
  uint64_t hash_seed = 0;
  // Count, log and skip malformed lines instead of failing. Default: false.
  bool skip_bad_lines = false;

  bool operator==(const SparseDataSpec&) const = default;
};

// Settings of one sparse table of a sparse model ([[sparse_table]] in a job
// file), by name; a table without an entry takes the defaults below.
struct SparseTableConfig {
  // The model's table this configures, e.g. "fm.rows" (see
  // common/sparse_model_tables.h). Required.
  std::string name;
  // Floats per row; 0 = the model's. Anything else must equal the model's
  // (a check that the file describes the model it means). Default: 0.
  uint32_t dim = 0;
  // Per-row update rule (common/sparse_optimizer_catalog.h) and overrides of
  // its parameters. "" = the job's [optimizer] (sgd -> sgd, adagrad ->
  // adagrad, adam -> lazy_adam, with its learning rate, betas, epsilon).
  // Default: "".
  std::string optimizer;
  SparseOptimizerParams params;
  // Admission: a row is created once its id was pushed this many times (0 or
  // 1: at once), at most 65535. Default: 0.
  uint32_t admit_after = 0;
  // Eviction: rows not updated for this many steps are dropped (0 = never).
  // Default: 0.
  uint64_t evict_after_steps = 0;
  // Most rows the table may hold (0 = the PS's limit). Default: 0.
  uint64_t max_rows = 0;
  // Seed of the rows' initial values; 0 = model.seed. Default: 0.
  uint64_t seed = 0;

  bool operator==(const SparseTableConfig&) const = default;
};

struct JobSpec {
  ModelSpec model;
  OptimizerSpec optimizer;
  TrainSpec train;
  CheckpointSpec checkpoint;
  NetworkSpec network;
  // Directory holding the IDX files (train-images-idx3-ubyte.gz, ...).
  // Default: where Debian's dataset-fashion-mnist installs them.
  std::string data_dir = "/usr/share/datasets/fashion-mnist";
  // Cluster size for a launch. Defaults: 2 PS, 2 workers.
  uint32_t num_servers = 2;
  uint32_t num_workers = 2;
  // Sparse models only: their data files and per-table settings.
  SparseDataSpec sparse_data;
  std::vector<SparseTableConfig> sparse_tables;

  // A sparse model (anything but the MLP).
  bool sparse() const { return model.kind != ModelKind::kMlp; }

  bool operator==(const JobSpec&) const = default;
};

// Each returns kInvalidArgument naming the offending field and what is allowed.
Status ValidateModelSpec(const ModelSpec& spec);
Status ValidateOptimizerSpec(const OptimizerSpec& spec);
Status ValidateTrainSpec(const TrainSpec& spec);
Status ValidateCheckpointSpec(const CheckpointSpec& spec);
Status ValidateNetworkSpec(const NetworkSpec& spec);
Status ValidateSparseDataSpec(const SparseDataSpec& spec);
// Also checks the sparse model's settings, data and [[sparse_table]] entries
// against the tables the model declares (names, dims, optimizers and their
// parameters).
Status ValidateJobSpec(const JobSpec& spec);

// Parsers for the names used in flags and job files ("relu", "adam", "bsp", ...).
StatusOr<Activation> ParseActivation(const std::string& name);
StatusOr<InitKind> ParseInitKind(const std::string& name);
StatusOr<LossKind> ParseLossKind(const std::string& name);
StatusOr<OptimizerKind> ParseOptimizerKind(const std::string& name);
StatusOr<LrSchedule> ParseLrSchedule(const std::string& name);
StatusOr<Consistency> ParseConsistency(const std::string& name);
StatusOr<ModelKind> ParseModelKind(const std::string& name);
StatusOr<DataFormat> ParseDataFormat(std::string_view name);
const char* ActivationName(Activation a);
const char* InitKindName(InitKind k);
const char* LossKindName(LossKind k);
const char* OptimizerKindName(OptimizerKind k);
const char* LrScheduleName(LrSchedule s);
const char* ConsistencyName(Consistency c);
const char* ModelKindName(ModelKind k);
const char* DataFormatName(DataFormat f);

}  // namespace pst
