#include "common/proto_convert.h"

#include <capnp/message.h>
#include <capnp/serialize.h>

#include <catch2/catch.hpp>
#include <cstring>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "common/job_spec.h"
#include "tests/common/job_spec_testing.h"
#include "common/status.h"
#include "proto/job.capnp.h"

namespace pst {
namespace {

// A valid spec in which every field differs from its default.
JobSpec NonDefaultSpec() {
  JobSpec s;
  s.model.layer_sizes = {17, 33, 9, 4};
  s.model.activation = Activation::kTanh;
  s.model.init = InitKind::kXavier;
  s.model.seed = 0xdeadbeefcafef00dull;
  s.optimizer.kind = OptimizerKind::kNesterov;
  s.optimizer.learning_rate = 0.0123f;
  s.optimizer.momentum = 0.75f;
  s.optimizer.beta1 = 0.8125f;
  s.optimizer.beta2 = 0.9375f;
  s.optimizer.epsilon = 3e-7f;
  s.optimizer.weight_decay = 0.015625f;
  s.optimizer.schedule = LrSchedule::kCosine;
  s.optimizer.step_size = 77;
  s.optimizer.step_gamma = 0.3f;
  s.optimizer.warmup_steps = 123;
  s.optimizer.total_steps = 45678;
  s.train.batch_size = 129;
  s.train.epochs = 11;
  s.train.batches_per_shard = 3;
  s.train.train_limit = 5000000000ull;
  s.train.test_limit = 777;
  s.train.consistency = Consistency::kSsp;
  s.train.staleness = 4;
  s.train.block_keys = 4097;
  s.train.target_accuracy = 0.8125f;
  s.model.loss = LossKind::kLogistic;
  s.optimizer.clip_norm = 2.5f;
  s.checkpoint.every_steps = 12345;
  s.checkpoint.every_seconds = 77;
  s.checkpoint.keep = 9;
  s.network.bind = "0.0.0.0";
  s.network.advertise = "host-7";
  s.network.scheduler_port = 7001;
  s.network.admin_bind = "10.0.0.1";
  s.network.admin_port = -1;
  s.network.heartbeat_ms = 123;
  s.network.heartbeat_timeout_ms = 4567;
  s.data_dir = "/tmp/some data/é";
  s.num_servers = 5;
  s.num_workers = 300;
  return s;
}

void CheckEqual(const JobSpec& a, const JobSpec& b) { testing::CheckSameJob(a, b); }

// Encodes `spec`, lets `tamper` edit the wire form, serialises it to bytes and
// decodes it again, as a receiving node would.
StatusOr<JobSpec> RoundTrip(const JobSpec& spec,
                            const std::function<void(proto::JobSpec::Builder)>& tamper = {}) {
  capnp::MallocMessageBuilder builder;
  auto root = builder.initRoot<proto::JobSpec>();
  ToProto(spec, root);
  if (tamper) tamper(root);
  kj::Array<capnp::word> words = capnp::messageToFlatArray(builder);
  capnp::FlatArrayMessageReader reader(words);
  return FromProto(reader.getRoot<proto::JobSpec>());
}

TEST_CASE("ProtoConvert: a non-default JobSpec round trips field by field", "[common]") {
  const JobSpec spec = NonDefaultSpec();
  REQUIRE(ValidateJobSpec(spec).ok());
  StatusOr<JobSpec> back = RoundTrip(spec);
  REQUIRE(back.ok());
  CheckEqual(spec, *back);
  // And the result differs from the defaults, so the comparison is meaningful.
  const JobSpec defaults;
  CHECK(back->model.layer_sizes != defaults.model.layer_sizes);
  CHECK(back->optimizer.kind != defaults.optimizer.kind);
  CHECK(back->train.batch_size != defaults.train.batch_size);
  CHECK(back->data_dir != defaults.data_dir);
}

TEST_CASE("ProtoConvert: a sparse job's model, data and tables round trip", "[common]") {
  JobSpec spec;
  spec.model.kind = ModelKind::kFm;
  spec.model.factors = 5;
  spec.model.hidden = {7};
  spec.model.embedding_dim = 3;
  spec.model.init_scale = 0.125f;
  spec.optimizer.kind = OptimizerKind::kAdagrad;
  spec.train.target_auc = 0.625f;
  spec.sparse_data.format = DataFormat::kCriteoTsv;
  spec.sparse_data.train = "/d/train.tsv";
  spec.sparse_data.test = "/d/test.tsv";
  spec.sparse_data.dense_features = 2;
  spec.sparse_data.categorical_fields = 3;
  spec.sparse_data.hash_seed = 99;
  spec.sparse_data.skip_bad_lines = true;
  SparseTableConfig t;
  t.name = "fm.rows";
  t.dim = 6;
  t.optimizer = "ftrl";
  t.params = {{"alpha", 0.3}, {"l1", 2.0}};
  t.admit_after = 3;
  t.evict_after_steps = 500;
  t.max_rows = 1000;
  t.seed = 12;
  spec.sparse_tables = {t};
  REQUIRE(ValidateJobSpec(spec).ok());
  StatusOr<JobSpec> back = RoundTrip(spec);
  INFO(back.status().ToString());
  REQUIRE(back.ok());
  CheckEqual(spec, *back);
  // A table the model does not have is refused on decode, like in a job file.
  StatusOr<JobSpec> bad = RoundTrip(spec, [](proto::JobSpec::Builder b) {
    b.getSparseTables()[0].setName("fm.other");
  });
  CHECK(bad.status().code() == StatusCode::kInvalidArgument);
  StatusOr<JobSpec> kind = RoundTrip(spec, [](proto::JobSpec::Builder b) {
    b.getModel().setKind(static_cast<proto::ModelKind>(9));
  });
  CHECK(kind.status().message() == "model.kind: unknown value 9");
}

TEST_CASE("ProtoConvert: the default JobSpec and every enum value round trip", "[common]") {
  StatusOr<JobSpec> d = RoundTrip(JobSpec{});
  REQUIRE(d.ok());
  CheckEqual(JobSpec{}, *d);

  for (Activation a : {Activation::kRelu, Activation::kTanh, Activation::kSigmoid}) {
    JobSpec s = NonDefaultSpec();
    s.model.activation = a;
    StatusOr<JobSpec> r = RoundTrip(s);
    REQUIRE(r.ok());
    CHECK(r->model.activation == a);
  }
  for (OptimizerKind k : {OptimizerKind::kSgd, OptimizerKind::kMomentum, OptimizerKind::kNesterov,
                          OptimizerKind::kAdagrad, OptimizerKind::kAdam, OptimizerKind::kAdamW}) {
    JobSpec s = NonDefaultSpec();
    s.optimizer.kind = k;
    StatusOr<JobSpec> r = RoundTrip(s);
    REQUIRE(r.ok());
    CHECK(r->optimizer.kind == k);
  }
  for (LrSchedule k : {LrSchedule::kConstant, LrSchedule::kStep, LrSchedule::kCosine}) {
    JobSpec s = NonDefaultSpec();
    s.optimizer.schedule = k;
    StatusOr<JobSpec> r = RoundTrip(s);
    REQUIRE(r.ok());
    CHECK(r->optimizer.schedule == k);
  }
  for (Consistency c : {Consistency::kBsp, Consistency::kAsp, Consistency::kSsp}) {
    JobSpec s = NonDefaultSpec();
    s.train.consistency = c;
    StatusOr<JobSpec> r = RoundTrip(s);
    REQUIRE(r.ok());
    CHECK(r->train.consistency == c);
  }
  for (InitKind k : {InitKind::kXavier, InitKind::kHe}) {
    JobSpec s = NonDefaultSpec();
    s.model.init = k;
    StatusOr<JobSpec> r = RoundTrip(s);
    REQUIRE(r.ok());
    CHECK(r->model.init == k);
  }
}

TEST_CASE("ProtoConvert: out-of-range enum values are rejected", "[common]") {
  struct Case {
    const char* field;
    std::function<void(proto::JobSpec::Builder)> tamper;
  };
  const std::vector<Case> cases = {
      {"optimizer.kind",
       [](proto::JobSpec::Builder b) {
         b.getOptimizer().setKind(static_cast<proto::OptimizerKind>(99));
       }},
      // One past the last known value.
      {"optimizer.kind",
       [](proto::JobSpec::Builder b) {
         b.getOptimizer().setKind(static_cast<proto::OptimizerKind>(6));
       }},
      {"optimizer.schedule",
       [](proto::JobSpec::Builder b) {
         b.getOptimizer().setSchedule(static_cast<proto::LrSchedule>(3));
       }},
      {"model.activation",
       [](proto::JobSpec::Builder b) {
         b.getModel().setActivation(static_cast<proto::Activation>(3));
       }},
      {"model.init",
       [](proto::JobSpec::Builder b) { b.getModel().setInit(static_cast<proto::InitKind>(2)); }},
      {"model.init",
       [](proto::JobSpec::Builder b) {
         b.getModel().setInit(static_cast<proto::InitKind>(65535));
       }},
      {"train.consistency",
       [](proto::JobSpec::Builder b) {
         b.getTrain().setConsistency(static_cast<proto::Consistency>(3));
       }},
  };
  for (const Case& c : cases) {
    CAPTURE(c.field);
    StatusOr<JobSpec> r = RoundTrip(NonDefaultSpec(), c.tamper);
    CHECK(r.status().code() == StatusCode::kInvalidArgument);
    CHECK(r.status().message().find(c.field) != std::string::npos);
  }
}

TEST_CASE("ProtoConvert: an invalid spec is rejected on decode", "[common]") {
  const std::vector<std::pair<const char*, std::function<void(proto::JobSpec::Builder)>>> cases = {
      {"batch size 0", [](proto::JobSpec::Builder b) { b.getTrain().setBatchSize(0); }},
      {"epochs 0", [](proto::JobSpec::Builder b) { b.getTrain().setEpochs(0); }},
      {"no layers", [](proto::JobSpec::Builder b) { b.getModel().initLayerSizes(0); }},
      {"no workers", [](proto::JobSpec::Builder b) { b.setNumWorkers(0); }},
      {"empty data dir", [](proto::JobSpec::Builder b) { b.setDataDir(""); }},
      {"negative learning rate",
       [](proto::JobSpec::Builder b) { b.getOptimizer().setLearningRate(-1.0f); }},
  };
  for (const auto& [what, tamper] : cases) {
    CAPTURE(what);
    StatusOr<JobSpec> r = RoundTrip(NonDefaultSpec(), tamper);
    CHECK(r.status().code() == StatusCode::kInvalidArgument);
  }
  // A message with no fields set at all (zeros everywhere) is not a valid job.
  capnp::MallocMessageBuilder empty;
  empty.initRoot<proto::JobSpec>();
  CHECK(FromProto(empty.getRoot<proto::JobSpec>().asReader()).status().code() ==
        StatusCode::kInvalidArgument);
}

// Regression: a Text without its NUL terminator used to throw kj::Exception
// out of FromProto instead of returning kInvalidArgument.
TEST_CASE("ProtoConvert: malformed text is rejected and not thrown", "[common]") {
  JobSpec spec = NonDefaultSpec();
  spec.data_dir = "/data/NO-NUL";
  capnp::MallocMessageBuilder builder;
  ToProto(spec, builder.initRoot<proto::JobSpec>());
  kj::Array<capnp::word> words = capnp::messageToFlatArray(builder);
  auto bytes = words.asBytes();
  std::string raw(reinterpret_cast<const char*>(bytes.begin()), bytes.size());
  const std::string text = std::string("/data/NO-NUL") + '\0';
  const size_t pos = raw.find(text);
  REQUIRE(pos != std::string::npos);
  raw[pos + text.size() - 1] = 'X';
  std::memcpy(words.begin(), raw.data(), raw.size());
  capnp::FlatArrayMessageReader reader(words);
  StatusOr<JobSpec> r = Status::OK();
  CHECK_NOTHROW(r = FromProto(reader.getRoot<proto::JobSpec>()));
  CHECK(r.status().code() == StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace pst
