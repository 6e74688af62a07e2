@0x9694be19ba521ed5;
# The job description the scheduler hands to every node. Mirrors common/job_spec.h.
using Cxx = import "/capnp/c++.capnp";
$Cxx.namespace("pst::proto");

enum Activation { relu @0; tanh @1; sigmoid @2; }
enum InitKind { xavier @0; he @1; }
enum LossKind { softmax @0; squared @1; logistic @2; }
enum OptimizerKind { sgd @0; momentum @1; nesterov @2; adagrad @3; adam @4; adamW @5; }
enum LrSchedule { constant @0; step @1; cosine @2; }
enum Consistency { bsp @0; asp @1; ssp @2; }
enum ModelKind { mlp @0; lr @1; fm @2; embeddingMlp @3; }
enum DataFormat { libsvm @0; criteo @1; }

struct ModelSpec {
  layerSizes @0 :List(UInt32);
  activation @1 :Activation;
  init @2 :InitKind;
  seed @3 :UInt64;
  loss @4 :LossKind;
  kind @5 :ModelKind;
  factors @6 :UInt32;
  embeddingDim @7 :UInt32;
  hidden @8 :List(UInt32);
  initScale @9 :Float32;
}

struct OptimizerSpec {
  kind @0 :OptimizerKind;
  learningRate @1 :Float32;
  momentum @2 :Float32;
  beta1 @3 :Float32;
  beta2 @4 :Float32;
  epsilon @5 :Float32;
  weightDecay @6 :Float32;
  schedule @7 :LrSchedule;
  stepSize @8 :UInt64;
  stepGamma @9 :Float32;
  warmupSteps @10 :UInt64;
  totalSteps @11 :UInt64;
  clipNorm @12 :Float32;
}

struct TrainSpec {
  batchSize @0 :UInt32;
  epochs @1 :UInt32;
  batchesPerShard @2 :UInt32;
  trainLimit @3 :UInt64;
  testLimit @4 :UInt64;
  consistency @5 :Consistency;
  staleness @6 :UInt32;
  blockKeys @7 :UInt64;
  targetAccuracy @8 :Float32;
  targetAuc @9 :Float32;
}

struct CheckpointSpec {
  everySteps @0 :UInt64;
  everySeconds @1 :UInt32;
  keep @2 :UInt32;
}

struct NetworkSpec {
  bind @0 :Text;
  advertise @1 :Text;
  schedulerPort @2 :UInt32;
  adminBind @3 :Text;
  adminPort @4 :Int32;
  heartbeatMs @5 :UInt32;
  heartbeatTimeoutMs @6 :UInt32;
  # Limits every server applies (common/job_spec.h NetworkSpec).
  maxClients @7 :UInt32 = 16384;
  maxInFlightPerClient @8 :UInt32 = 65536;
  maxFrameBytes @9 :UInt64 = 1073741824;
  maxIdsPerRequest @10 :UInt32 = 262144;
}

# Sparse models' data and per-table settings (common/job_spec.h).
struct SparseDataSpec {
  format @0 :DataFormat;
  train @1 :Text;
  test @2 :Text;
  denseFeatures @3 :UInt32;
  categoricalFields @4 :UInt32;
  hashSeed @5 :UInt64;
  skipBadLines @6 :Bool;
}

struct SparseOptimizerParam {
  name @0 :Text;
  value @1 :Float64;
}

struct SparseTableConfig {
  name @0 :Text;
  dim @1 :UInt32;
  optimizer @2 :Text;
  params @3 :List(SparseOptimizerParam);
  admitAfter @4 :UInt32;
  evictAfterSteps @5 :UInt64;
  maxRows @6 :UInt64;
  seed @7 :UInt64;
}

struct JobSpec {
  model @0 :ModelSpec;
  optimizer @1 :OptimizerSpec;
  train @2 :TrainSpec;
  dataDir @3 :Text;
  numServers @4 :UInt32;
  numWorkers @5 :UInt32;
  checkpoint @6 :CheckpointSpec;
  network @7 :NetworkSpec;
  sparseData @8 :SparseDataSpec;
  sparseTables @9 :List(SparseTableConfig);
}
