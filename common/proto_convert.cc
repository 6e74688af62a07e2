#include "common/proto_convert.h"

#include <string>

#include <kj/exception.h>

#include "common/optimizer_catalog.h"

namespace pst {
namespace {

// Enum values arrive as raw integers; anything past the last known one is
// rejected rather than cast into an out-of-range enum.
template <typename E, typename P>
StatusOr<E> CheckedEnum(P value, E last, const char* field) {
  const auto raw = static_cast<uint16_t>(value);
  if (raw > static_cast<uint16_t>(last))
    return Status::InvalidArgument(std::string(field) + ": unknown value " + std::to_string(raw));
  return static_cast<E>(raw);
}

}  // namespace

void ToProto(const JobSpec& s, proto::JobSpec::Builder out) {
  auto m = out.initModel();
  auto sizes = m.initLayerSizes(s.model.layer_sizes.size());
  for (size_t i = 0; i < s.model.layer_sizes.size(); ++i) sizes.set(i, s.model.layer_sizes[i]);
  m.setActivation(static_cast<proto::Activation>(s.model.activation));
  m.setInit(static_cast<proto::InitKind>(s.model.init));
  m.setSeed(s.model.seed);
  m.setLoss(static_cast<proto::LossKind>(s.model.loss));
  m.setKind(static_cast<proto::ModelKind>(s.model.kind));
  m.setFactors(s.model.factors);
  m.setEmbeddingDim(s.model.embedding_dim);
  auto hidden = m.initHidden(s.model.hidden.size());
  for (size_t i = 0; i < s.model.hidden.size(); ++i) hidden.set(i, s.model.hidden[i]);
  m.setInitScale(s.model.init_scale);
  auto o = out.initOptimizer();
  const OptimizerSpec& os = s.optimizer;
  o.setKind(static_cast<proto::OptimizerKind>(os.kind));
  o.setLearningRate(os.learning_rate);
  o.setMomentum(os.momentum);
  o.setBeta1(os.beta1);
  o.setBeta2(os.beta2);
  o.setEpsilon(os.epsilon);
  o.setWeightDecay(os.weight_decay);
  o.setSchedule(static_cast<proto::LrSchedule>(os.schedule));
  o.setStepSize(os.step_size);
  o.setStepGamma(os.step_gamma);
  o.setWarmupSteps(os.warmup_steps);
  o.setTotalSteps(os.total_steps);
  o.setClipNorm(os.clip_norm);
  auto t = out.initTrain();
  const TrainSpec& ts = s.train;
  t.setBatchSize(ts.batch_size);
  t.setEpochs(ts.epochs);
  t.setBatchesPerShard(ts.batches_per_shard);
  t.setTrainLimit(ts.train_limit);
  t.setTestLimit(ts.test_limit);
  t.setConsistency(static_cast<proto::Consistency>(ts.consistency));
  t.setStaleness(ts.staleness);
  t.setBlockKeys(ts.block_keys);
  t.setTargetAccuracy(ts.target_accuracy);
  t.setTargetAuc(ts.target_auc);
  auto c = out.initCheckpoint();
  c.setEverySteps(s.checkpoint.every_steps);
  c.setEverySeconds(s.checkpoint.every_seconds);
  c.setKeep(s.checkpoint.keep);
  auto n = out.initNetwork();
  n.setBind(s.network.bind);
  n.setAdvertise(s.network.advertise);
  n.setSchedulerPort(s.network.scheduler_port);
  n.setAdminBind(s.network.admin_bind);
  n.setAdminPort(s.network.admin_port);
  n.setHeartbeatMs(s.network.heartbeat_ms);
  n.setHeartbeatTimeoutMs(s.network.heartbeat_timeout_ms);
  n.setMaxClients(s.network.max_clients);
  n.setMaxInFlightPerClient(s.network.max_in_flight_per_client);
  n.setMaxFrameBytes(s.network.max_frame_bytes);
  n.setMaxIdsPerRequest(s.network.max_ids_per_request);
  out.setDataDir(s.data_dir);
  out.setNumServers(s.num_servers);
  out.setNumWorkers(s.num_workers);
  auto d = out.initSparseData();
  d.setFormat(static_cast<proto::DataFormat>(s.sparse_data.format));
  d.setTrain(s.sparse_data.train);
  d.setTest(s.sparse_data.test);
  d.setDenseFeatures(s.sparse_data.dense_features);
  d.setCategoricalFields(s.sparse_data.categorical_fields);
  d.setHashSeed(s.sparse_data.hash_seed);
  d.setSkipBadLines(s.sparse_data.skip_bad_lines);
  auto tables = out.initSparseTables(s.sparse_tables.size());
  for (size_t i = 0; i < s.sparse_tables.size(); ++i) {
    const SparseTableConfig& c = s.sparse_tables[i];
    auto t = tables[i];
    t.setName(c.name);
    t.setDim(c.dim);
    t.setOptimizer(c.optimizer);
    auto params = t.initParams(c.params.size());
    size_t j = 0;
    for (const auto& [name, value] : c.params) {
      params[j].setName(name);
      params[j].setValue(value);
      ++j;
    }
    t.setAdmitAfter(c.admit_after);
    t.setEvictAfterSteps(c.evict_after_steps);
    t.setMaxRows(c.max_rows);
    t.setSeed(c.seed);
  }
}

namespace {

StatusOr<JobSpec> FromProtoUnchecked(proto::JobSpec::Reader in) {
  JobSpec s;
  s.model.layer_sizes.clear();
  auto m = in.getModel();
  for (uint32_t v : m.getLayerSizes()) s.model.layer_sizes.push_back(v);
  PST_ASSIGN_OR_RETURN(s.model.activation,
                       CheckedEnum(m.getActivation(), Activation::kSigmoid, "model.activation"));
  PST_ASSIGN_OR_RETURN(s.model.init, CheckedEnum(m.getInit(), InitKind::kHe, "model.init"));
  s.model.seed = m.getSeed();
  PST_ASSIGN_OR_RETURN(s.model.loss, CheckedEnum(m.getLoss(), LossKind::kLogistic, "model.loss"));
  PST_ASSIGN_OR_RETURN(s.model.kind,
                       CheckedEnum(m.getKind(), ModelKind::kEmbeddingMlp, "model.kind"));
  s.model.factors = m.getFactors();
  s.model.embedding_dim = m.getEmbeddingDim();
  s.model.hidden.clear();
  for (uint32_t v : m.getHidden()) s.model.hidden.push_back(v);
  s.model.init_scale = m.getInitScale();
  auto o = in.getOptimizer();
  OptimizerSpec& os = s.optimizer;
  // The catalog decides which ids are known (a rule may be retired, leaving a gap).
  const auto raw_kind = static_cast<uint16_t>(o.getKind());
  const DenseOptimizerInfo* rule =
      raw_kind > 0xff ? nullptr : FindDenseOptimizer(static_cast<OptimizerKind>(raw_kind));
  if (rule == nullptr) {
    return Status::InvalidArgument("optimizer.kind: unknown value " + std::to_string(raw_kind));
  }
  os.kind = rule->kind;
  os.learning_rate = o.getLearningRate();
  os.momentum = o.getMomentum();
  os.beta1 = o.getBeta1();
  os.beta2 = o.getBeta2();
  os.epsilon = o.getEpsilon();
  os.weight_decay = o.getWeightDecay();
  PST_ASSIGN_OR_RETURN(os.schedule,
                       CheckedEnum(o.getSchedule(), LrSchedule::kCosine, "optimizer.schedule"));
  os.step_size = o.getStepSize();
  os.step_gamma = o.getStepGamma();
  os.warmup_steps = o.getWarmupSteps();
  os.total_steps = o.getTotalSteps();
  os.clip_norm = o.getClipNorm();
  auto t = in.getTrain();
  TrainSpec& ts = s.train;
  ts.batch_size = t.getBatchSize();
  ts.epochs = t.getEpochs();
  ts.batches_per_shard = t.getBatchesPerShard();
  ts.train_limit = t.getTrainLimit();
  ts.test_limit = t.getTestLimit();
  PST_ASSIGN_OR_RETURN(ts.consistency,
                       CheckedEnum(t.getConsistency(), Consistency::kSsp, "train.consistency"));
  ts.staleness = t.getStaleness();
  ts.block_keys = t.getBlockKeys();
  ts.target_accuracy = t.getTargetAccuracy();
  ts.target_auc = t.getTargetAuc();
  s.checkpoint.every_steps = in.getCheckpoint().getEverySteps();
  s.checkpoint.every_seconds = in.getCheckpoint().getEverySeconds();
  s.checkpoint.keep = in.getCheckpoint().getKeep();
  auto n = in.getNetwork();
  s.network.bind = n.getBind().cStr();
  s.network.advertise = n.getAdvertise().cStr();
  s.network.scheduler_port = n.getSchedulerPort();
  s.network.admin_bind = n.getAdminBind().cStr();
  s.network.admin_port = n.getAdminPort();
  s.network.heartbeat_ms = n.getHeartbeatMs();
  s.network.heartbeat_timeout_ms = n.getHeartbeatTimeoutMs();
  s.network.max_clients = n.getMaxClients();
  s.network.max_in_flight_per_client = n.getMaxInFlightPerClient();
  s.network.max_frame_bytes = n.getMaxFrameBytes();
  s.network.max_ids_per_request = n.getMaxIdsPerRequest();
  s.data_dir = in.getDataDir().cStr();
  s.num_servers = in.getNumServers();
  s.num_workers = in.getNumWorkers();
  auto d = in.getSparseData();
  PST_ASSIGN_OR_RETURN(s.sparse_data.format,
                       CheckedEnum(d.getFormat(), DataFormat::kCriteoTsv, "data.format"));
  s.sparse_data.train = d.getTrain().cStr();
  s.sparse_data.test = d.getTest().cStr();
  s.sparse_data.dense_features = d.getDenseFeatures();
  s.sparse_data.categorical_fields = d.getCategoricalFields();
  s.sparse_data.hash_seed = d.getHashSeed();
  s.sparse_data.skip_bad_lines = d.getSkipBadLines();
  for (auto t : in.getSparseTables()) {
    SparseTableConfig c;
    c.name = t.getName().cStr();
    c.dim = t.getDim();
    c.optimizer = t.getOptimizer().cStr();
    for (auto p : t.getParams()) c.params[p.getName().cStr()] = p.getValue();
    c.admit_after = t.getAdmitAfter();
    c.evict_after_steps = t.getEvictAfterSteps();
    c.max_rows = t.getMaxRows();
    c.seed = t.getSeed();
    s.sparse_tables.push_back(std::move(c));
  }
  PST_RETURN_IF_ERROR(ValidateJobSpec(s));
  return s;
}

}  // namespace

StatusOr<JobSpec> FromProto(proto::JobSpec::Reader in) {
  try {
    return FromProtoUnchecked(in);
  } catch (const kj::Exception& e) {
    return Status::InvalidArgument(std::string("job: malformed: ") + e.getDescription().cStr());
  }
}

}  // namespace pst
