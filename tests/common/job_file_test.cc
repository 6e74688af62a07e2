#include "common/job_file.h"

#include <stdlib.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <system_error>

#include "common/job_spec.h"
#include "tests/common/job_spec_testing.h"
#include "common/status.h"

namespace pst {
namespace {

// A fresh directory under $TMPDIR, removed with its contents at scope exit.
class TempDir {
 public:
  TempDir() {
    std::string templ = (std::filesystem::temp_directory_path() / "pst_job_file_test.XXXXXX");
    path_ = ::mkdtemp(templ.data()) != nullptr ? templ : "";
    REQUIRE(!path_.empty());
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  std::string File(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

void WriteText(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary);
  out << text;
  REQUIRE(out.good());
}

void CheckEqual(const JobSpec& a, const JobSpec& b) { testing::CheckSameJob(a, b); }

constexpr char kFullJob[] = R"(
[data]
dir = "/data/fmnist"
[model]
layers = [784, 256, 64, 10]
activation = "tanh"
init = "xavier"
seed = 42
[optimizer]
kind = "adamw"
learning_rate = 0.003
momentum = 0.8
beta1 = 0.85
beta2 = 0.995
epsilon = 1e-7
weight_decay = 0.01
schedule = "cosine"
step_size = 500
step_gamma = 0.5
warmup_steps = 100
total_steps = 20000
[train]
batch_size = 128
epochs = 7
batches_per_shard = 32
train_limit = 6000
test_limit = 1000
consistency = "ssp"
staleness = 3
block_keys = 4096
[cluster]
servers = 4
workers = 8
)";

TEST_CASE("JobFile: an empty file gives the defaults", "[common]") {
  StatusOr<JobSpec> spec = ParseJobToml("", "job.toml");
  REQUIRE(spec.ok());
  CheckEqual(*spec, JobSpec{});

  // Empty tables and comments change nothing either.
  spec = ParseJobToml("# nothing\n[model]\n[train]\n", "job.toml");
  REQUIRE(spec.ok());
  CheckEqual(*spec, JobSpec{});
}

TEST_CASE("JobFile: a full file sets every field", "[common]") {
  StatusOr<JobSpec> spec = ParseJobToml(kFullJob, "job.toml");
  INFO(spec.status().ToString());
  REQUIRE(spec.ok());
  JobSpec want;
  want.data_dir = "/data/fmnist";
  want.model.layer_sizes = {784, 256, 64, 10};
  want.model.activation = Activation::kTanh;
  want.model.init = InitKind::kXavier;
  want.model.seed = 42;
  want.optimizer.kind = OptimizerKind::kAdamW;
  want.optimizer.learning_rate = 0.003f;
  want.optimizer.momentum = 0.8f;
  want.optimizer.beta1 = 0.85f;
  want.optimizer.beta2 = 0.995f;
  want.optimizer.epsilon = 1e-7f;
  want.optimizer.weight_decay = 0.01f;
  want.optimizer.schedule = LrSchedule::kCosine;
  want.optimizer.step_size = 500;
  want.optimizer.step_gamma = 0.5f;
  want.optimizer.warmup_steps = 100;
  want.optimizer.total_steps = 20000;
  want.train.batch_size = 128;
  want.train.epochs = 7;
  want.train.batches_per_shard = 32;
  want.train.train_limit = 6000;
  want.train.test_limit = 1000;
  want.train.consistency = Consistency::kSsp;
  want.train.block_keys = 4096;
  want.train.staleness = 3;
  want.num_servers = 4;
  want.num_workers = 8;
  CheckEqual(*spec, want);
}

TEST_CASE("JobFile: JobSpecToToml round-trips through ParseJobToml", "[common]") {
  SECTION("defaults") {
    StatusOr<JobSpec> back = ParseJobToml(JobSpecToToml(JobSpec{}), "out.toml");
    REQUIRE(back.ok());
    CheckEqual(*back, JobSpec{});
  }
  SECTION("the full file") {
    StatusOr<JobSpec> spec = ParseJobToml(kFullJob, "job.toml");
    REQUIRE(spec.ok());
    std::string text = JobSpecToToml(*spec);
    StatusOr<JobSpec> back = ParseJobToml(text, "out.toml");
    INFO(text);
    INFO(back.status().ToString());
    REQUIRE(back.ok());
    CheckEqual(*back, *spec);
  }
  SECTION("awkward values") {
    JobSpec spec;
    spec.data_dir = "C:\\data \"quoted\"\ttab\nnewline \x01 caf\xc3\xa9";
    spec.model.seed = 9223372036854775807ull;  // the largest a TOML integer holds
    spec.train.train_limit = 9223372036854775807ull;
    spec.optimizer.learning_rate = 100.0f;  // whole number: must still read back as a float
    spec.optimizer.epsilon = 1.17549435e-38f;
    spec.optimizer.weight_decay = 0.0f;
    spec.optimizer.schedule = LrSchedule::kStep;
    std::string text = JobSpecToToml(spec);
    StatusOr<JobSpec> back = ParseJobToml(text, "out.toml");
    INFO(text);
    INFO(back.status().ToString());
    REQUIRE(back.ok());
    CheckEqual(*back, spec);
  }
  SECTION("random float values are written without loss") {
    std::mt19937 rng(7);
    std::uniform_real_distribution<float> unit(0.0f, 1.0f);
    for (int i = 0; i < 2000; ++i) {
      JobSpec spec;
      spec.optimizer.learning_rate = unit(rng) * 10 + 1e-6f;
      spec.optimizer.momentum = unit(rng) * 0.999f;
      spec.optimizer.beta2 = unit(rng) * 0.999f;
      spec.optimizer.epsilon = unit(rng) * 1e-6f + 1e-12f;
      StatusOr<JobSpec> back = ParseJobToml(JobSpecToToml(spec), "out.toml");
      REQUIRE(back.ok());
      REQUIRE(back->optimizer.learning_rate == spec.optimizer.learning_rate);
      REQUIRE(back->optimizer.momentum == spec.optimizer.momentum);
      REQUIRE(back->optimizer.beta2 == spec.optimizer.beta2);
      REQUIRE(back->optimizer.epsilon == spec.optimizer.epsilon);
    }
  }
}

TEST_CASE("JobFile: integers are accepted for float keys", "[common]") {
  StatusOr<JobSpec> spec = ParseJobToml("[optimizer]\nlearning_rate = 1\nweight_decay = 0\n", "j");
  REQUIRE(spec.ok());
  CHECK(spec->optimizer.learning_rate == 1.0f);
  CHECK(spec->optimizer.weight_decay == 0.0f);
}

TEST_CASE("JobFile: bad values give one-line errors naming the file and the field", "[common]") {
  struct Case {
    const char* text;
    const char* field;  // must appear in the message
    const char* hint;   // and so must this
  };
  const Case cases[] = {
      // Wrong types.
      {"[train]\nbatch_size = \"abc\"", "train.batch_size", "got \"abc\""},
      {"[train]\nbatch_size = 64.0", "train.batch_size", "expected an integer"},
      {"[train]\nbatch_size = true", "train.batch_size", "got true"},
      {"[train]\nepochs = [1, 2]", "train.epochs", "got an array"},
      {"[model]\nseed = -5", "model.seed", "got -5"},
      {"[train]\nbatch_size = -1", "train.batch_size", "[0, 4294967295]"},
      {"[train]\nbatch_size = 4294967296", "train.batch_size", "[0, 4294967295]"},
      {"[cluster]\nworkers = 1979-05-27", "cluster.workers", "date"},
      {"[model]\nlayers = 5", "model.layers", "array of integers"},
      {"[model]\nlayers = [784, \"x\", 10]", "model.layers[1]", "got \"x\""},
      {"[model]\nlayers = [784, -1, 10]", "model.layers[1]", "got -1"},
      {"[model]\nlayers = [784, [1], 10]", "model.layers[1]", "got an array"},
      {"[model]\nactivation = 3", "model.activation", "expected a string"},
      {"[optimizer]\nlearning_rate = \"fast\"", "optimizer.learning_rate", "expected a number"},
      {"[optimizer]\nlearning_rate = true", "optimizer.learning_rate", "expected a number"},
      {"[optimizer]\nlearning_rate = 1e300", "optimizer.learning_rate", "32-bit float"},
      {"[data]\ndir = 5", "data.dir", "expected a string"},
      // Unknown enum names: the Parse* functions list what is allowed.
      {"[model]\nactivation = \"gelu\"", "model.activation", "relu"},
      {"[model]\ninit = \"zeros\"", "model.init", "xavier"},
      {"[optimizer]\nkind = \"rmsprop\"", "optimizer.kind", "adamw"},
      {"[optimizer]\nschedule = \"linear\"", "optimizer.schedule", "cosine"},
      {"[train]\nconsistency = \"eventual\"", "train.consistency", "ssp"},
      // Out of range: ValidateJobSpec's messages.
      {"[train]\nbatch_size = 0", "train.batch_size", "[1, 65536]"},
      {"[train]\nbatches_per_shard = 1", "train.batches_per_shard", "[2, 1000000]"},
      {"[train]\nstaleness = 5000", "train.staleness", "1000"},
      {"[model]\nlayers = [784]", "model.layers", "at least 2"},
      {"[model]\nlayers = [784, 0, 10]", "model.layers", "[1, 16777216]"},
      {"[optimizer]\nlearning_rate = 0", "optimizer.learning_rate", "(0, 100]"},
      {"[optimizer]\nlearning_rate = nan", "optimizer.learning_rate", "(0, 100]"},
      {"[optimizer]\nbeta2 = 1", "optimizer.beta2", "[0, 1)"},
      {"[optimizer]\nschedule = \"cosine\"\nwarmup_steps = 10\ntotal_steps = 10",
       "optimizer.total_steps", "warmup_steps"},
      {"[data]\ndir = \"\"", "data.dir", "empty"},
      {"[cluster]\nservers = 0", "cluster.servers", "[1, 256]"},
      {"[cluster]\nworkers = 2000", "cluster.workers", "[1, 1024]"},
      // Unknown keys and tables.
      {"[train]\nbach_size = 3", "unknown key 'train.bach_size'", "batch_size, epochs"},
      {"[cluster]\nfoo = 1", "unknown key 'cluster.foo'", "servers, workers"},
      {"[train.extra]\nx = 1", "unknown key 'train.extra'", "allowed"},
      {"[modle]\nlayers = [2, 2]", "unknown table 'modle'", "model"},
      {"batch_size = 64", "unknown top-level key 'batch_size'", "train"},
      {"model = 3", "model", "expected a table"},
      {"[[train]]\nepochs = 1", "train", "expected a table, got an array"},
  };
  for (const Case& c : cases) {
    INFO(c.text);
    StatusOr<JobSpec> spec = ParseJobToml(c.text, "job.toml");
    REQUIRE(!spec.ok());
    const std::string& msg = spec.status().message();
    INFO(msg);
    CHECK(spec.status().code() == StatusCode::kInvalidArgument);
    CHECK(msg.rfind("job.toml: ", 0) == 0);
    CHECK(msg.find(c.field) != std::string::npos);
    CHECK(msg.find(c.hint) != std::string::npos);
    CHECK(msg.find('\n') == std::string::npos);
  }
}

TEST_CASE("JobFile: the exact messages of the common mistakes", "[common]") {
  CHECK(ParseJobToml("[train]\nbatch_size = \"abc\"", "job.toml").status().message() ==
        "job.toml: train.batch_size: expected an integer in [0, 4294967295], got \"abc\"");
  CHECK(ParseJobToml("[train]\nbach_size = 1", "job.toml").status().message() ==
        "job.toml: unknown key 'train.bach_size' (allowed: batch_size, epochs, "
        "batches_per_shard, train_limit, test_limit, consistency, staleness, block_keys, "
        "target_accuracy, target_auc)");
  CHECK(ParseJobToml("[modle]", "job.toml").status().message() ==
        "job.toml: unknown table 'modle' (allowed tables: data, model, optimizer, train, "
        "checkpoint, cluster, network, sparse_table)");
  CHECK(ParseJobToml("[network]\nadmin_port = 70000", "job.toml").status().message() ==
        "job.toml: network.admin_port: must be in [0, 65535], or -1 to disable it");
  CHECK(ParseJobToml("[network]\nheartbeat_ms = 500\nheartbeat_timeout_ms = 100", "job.toml")
            .status()
            .message() == "job.toml: network.heartbeat_timeout_ms: must be longer than heartbeat_ms");
  CHECK(ParseJobToml("[network]\nbind = 7", "job.toml").status().message() ==
        "job.toml: network.bind: expected a string, got 7");
  CHECK(ParseJobToml("[checkpoint]\nkeep = 0", "job.toml").status().message() ==
        "job.toml: checkpoint.keep: must be in [1, 1000]");
  CHECK(ParseJobToml("[checkpoint]\nevery = 5", "job.toml").status().message() ==
        "job.toml: unknown key 'checkpoint.every' (allowed: every_steps, every_seconds, keep)");
  CHECK(ParseJobToml("[train]\nbatch_size = 0", "job.toml").status().message() ==
        "job.toml: train.batch_size: must be in [1, 65536]");
}

TEST_CASE("JobFile: syntax errors give file:line:col", "[common]") {
  struct Case {
    const char* text;
    const char* prefix;
  };
  const Case cases[] = {
      {"[train]\nbatch_size = 64\nepochs = = 3\n", "job.toml:3:"},
      {"[train]\nepochs = 1\nepochs = 2\n", "job.toml:3:"},       // duplicate key
      {"[model]\nseed = 99999999999999999999\n", "job.toml:2:"},  // beyond int64
      {"[train\n", "job.toml:1:"},
      {"[data]\ndir = \"unterminated\n", "job.toml:2:"},
  };
  for (const Case& c : cases) {
    INFO(c.text);
    StatusOr<JobSpec> spec = ParseJobToml(c.text, "job.toml");
    REQUIRE(!spec.ok());
    INFO(spec.status().message());
    CHECK(spec.status().code() == StatusCode::kInvalidArgument);
    CHECK(spec.status().message().rfind(c.prefix, 0) == 0);
    CHECK(spec.status().message().find("TOML syntax error") != std::string::npos);
    CHECK(spec.status().message().find('\n') == std::string::npos);
  }
}

TEST_CASE("JobFile: LoadJobFile reads a file and names it in errors", "[common]") {
  TempDir dir;
  SECTION("a good file") {
    std::string path = dir.File("job.toml");
    WriteText(path, "[train]\nepochs = 9\n");
    StatusOr<JobSpec> spec = LoadJobFile(path);
    REQUIRE(spec.ok());
    CHECK(spec->train.epochs == 9);
  }
  SECTION("a bad file") {
    std::string path = dir.File("bad.toml");
    WriteText(path, "[train]\nepochs = 0\n");
    StatusOr<JobSpec> spec = LoadJobFile(path);
    REQUIRE(!spec.ok());
    CHECK(spec.status().code() == StatusCode::kInvalidArgument);
    CHECK(spec.status().message().rfind(path + ": train.epochs", 0) == 0);
  }
  SECTION("a syntax error") {
    std::string path = dir.File("syntax.toml");
    WriteText(path, "\n\n[train\n");
    StatusOr<JobSpec> spec = LoadJobFile(path);
    REQUIRE(!spec.ok());
    CHECK(spec.status().message().rfind(path + ":3:", 0) == 0);
  }
  SECTION("a missing file is kNotFound") {
    std::string path = dir.File("missing.toml");
    StatusOr<JobSpec> spec = LoadJobFile(path);
    REQUIRE(!spec.ok());
    CHECK(spec.status().code() == StatusCode::kNotFound);
    CHECK(spec.status().message().find(path) != std::string::npos);
  }
  SECTION("a directory") {
    StatusOr<JobSpec> spec = LoadJobFile(dir.File(""));
    REQUIRE(!spec.ok());
    CHECK(spec.status().code() == StatusCode::kInvalidArgument);
  }
  SECTION("a huge file is refused") {
    std::string path = dir.File("huge.toml");
    WriteText(path, std::string(2 << 20, '#'));
    StatusOr<JobSpec> spec = LoadJobFile(path);
    REQUIRE(!spec.ok());
    CHECK(spec.status().code() == StatusCode::kInvalidArgument);
  }
}

}  // namespace
TEST_CASE("JobFile: the [network] section sets addresses and heartbeats", "[common]") {
  auto job = ParseJobToml(
      "[network]\nbind = \"0.0.0.0\"\nadvertise = \"trainer-1\"\nscheduler_port = 7000\n"
      "admin_bind = \"0.0.0.0\"\nadmin_port = -1\nheartbeat_ms = 200\nheartbeat_timeout_ms = 3000\n",
      "job.toml");
  REQUIRE(job.ok());
  CHECK(job->network.bind == "0.0.0.0");
  CHECK(job->network.advertise == "trainer-1");
  CHECK(job->network.scheduler_port == 7000);
  CHECK(job->network.admin_bind == "0.0.0.0");
  CHECK(job->network.admin_port == -1);
  CHECK(job->network.heartbeat_ms == 200);
  CHECK(job->network.heartbeat_timeout_ms == 3000);
  // Written back and read again, it is the same job.
  auto again = ParseJobToml(JobSpecToToml(*job), "again.toml");
  REQUIRE(again.ok());
  CHECK(*again == *job);
}


constexpr char kSparseJob[] = R"(
[data]
format = "criteo"
train = "/data/ctr/train.tsv"
test = "/data/ctr/test.tsv"
dense_features = 13
categorical_fields = 26
hash_seed = 5
skip_bad_lines = true
[model]
kind = "embedding_mlp"
embedding_dim = 8
hidden = [32, 16]
init_scale = 0.05
seed = 3
[optimizer]
kind = "adagrad"
learning_rate = 0.05
[train]
target_auc = 0.75
[[sparse_table]]
name = "dlrm.emb"
dim = 8
optimizer = "ftrl"
alpha = 0.1
l1 = 1.5
l2 = 0.25
admit_after = 2
evict_after_steps = 1000
max_rows = 10000000
seed = 77
)";

TEST_CASE("JobFile: a sparse job sets the model, data and per-table keys", "[common]") {
  StatusOr<JobSpec> spec = ParseJobToml(kSparseJob, "ctr.toml");
  INFO(spec.status().ToString());
  REQUIRE(spec.ok());
  CHECK(spec->sparse());
  CHECK(spec->model.kind == ModelKind::kEmbeddingMlp);
  CHECK(spec->model.embedding_dim == 8);
  CHECK(spec->model.hidden == std::vector<uint32_t>{32, 16});
  CHECK(spec->model.init_scale == 0.05f);
  CHECK(spec->sparse_data.format == DataFormat::kCriteoTsv);
  CHECK(spec->sparse_data.train == "/data/ctr/train.tsv");
  CHECK(spec->sparse_data.test == "/data/ctr/test.tsv");
  CHECK(spec->sparse_data.hash_seed == 5);
  CHECK(spec->sparse_data.skip_bad_lines);
  CHECK(spec->train.target_auc == 0.75f);
  REQUIRE(spec->sparse_tables.size() == 1);
  const SparseTableConfig& t = spec->sparse_tables[0];
  CHECK(t.name == "dlrm.emb");
  CHECK(t.dim == 8);
  CHECK(t.optimizer == "ftrl");
  CHECK(t.params == SparseOptimizerParams{{"alpha", 0.1}, {"l1", 1.5}, {"l2", 0.25}});
  CHECK(t.admit_after == 2);
  CHECK(t.evict_after_steps == 1000);
  CHECK(t.max_rows == 10000000);
  CHECK(t.seed == 77);

  StatusOr<JobSpec> back = ParseJobToml(JobSpecToToml(*spec), "out.toml");
  INFO(JobSpecToToml(*spec));
  REQUIRE(back.ok());
  CheckEqual(*back, *spec);
}

TEST_CASE("JobFile: bad sparse keys give one-line errors", "[common]") {
  const std::string base =
      "[model]\nkind = \"fm\"\n[data]\ntrain = \"a.svm\"\ntest = \"b.svm\"\n";
  auto error = [&](const std::string& extra) {
    StatusOr<JobSpec> spec = ParseJobToml(base + extra, "j.toml");
    REQUIRE_FALSE(spec.ok());
    CHECK(spec.status().code() == StatusCode::kInvalidArgument);
    CHECK(spec.status().message().find('\n') == std::string::npos);
    return spec.status().message();
  };
  CHECK(ParseJobToml(base, "j.toml").ok());
  CHECK(error("[[sparse_table]]\nname = \"fm.rows\"\noptimizer = \"ftrl\"\nlr = 0.1\n") ==
        "j.toml: unknown key 'sparse_table[0].lr' (allowed: name, dim, optimizer, admit_after, "
        "evict_after_steps, max_rows, seed, alpha, beta, l1, l2)");
  CHECK(error("[[sparse_table]]\nname = \"fm.rows\"\noptimizer = \"rmsprop\"\n") ==
        "j.toml: sparse_table[0].optimizer: unknown sparse optimizer 'rmsprop' (allowed: "
        "sgd|adagrad|ftrl|lazy_adam)");
  CHECK(error("[[sparse_table]]\nname = \"fm.emb\"\n") ==
        "j.toml: sparse_table 'fm.emb': model fm has no such sparse table (it has: fm.rows)");
  CHECK(error("[[sparse_table]]\nname = \"fm.rows\"\ndim = 4\n") ==
        "j.toml: sparse_table 'fm.rows': dim 4, but the model's rows have 9 floats");
  CHECK(error("[[sparse_table]]\nname = \"fm.rows\"\noptimizer = \"ftrl\"\nl1 = -1\n") ==
        "j.toml: sparse_table 'fm.rows': ftrl l1 = -1 is outside [0, 1e+06]");
  CHECK(error("[[sparse_table]]\nname = \"fm.rows\"\n[[sparse_table]]\nname = \"fm.rows\"\n") ==
        "j.toml: sparse_table 'fm.rows': configured twice");
  CHECK(error("[optimizer]\nkind = \"momentum\"\n").find(
            "sparse rows take only sgd, adagrad or adam") != std::string::npos);
  CHECK(error("[train]\ntarget_auc = 1.5\n") ==
        "j.toml: train.target_auc: must be in [0, 1] (0 = off)");
  StatusOr<JobSpec> scalar = ParseJobToml("sparse_table = 3\n" + base, "j.toml");
  REQUIRE_FALSE(scalar.ok());
  CHECK(scalar.status().message() ==
        "j.toml: sparse_table: expected an array of tables ([[sparse_table]]), got 3");
  StatusOr<JobSpec> no_test =
      ParseJobToml("[model]\nkind = \"lr\"\n[data]\ntrain = \"a\"\n", "j.toml");
  REQUIRE_FALSE(no_test.ok());
  CHECK(no_test.status().message() ==
        "j.toml: data.test: a sparse model needs its test file (data.test = \"path\")");
  StatusOr<JobSpec> kind = ParseJobToml("[model]\nkind = \"dnn\"\n", "j.toml");
  REQUIRE_FALSE(kind.ok());
  CHECK(kind.status().message() ==
        "j.toml: model.kind: unknown model kind 'dnn' (allowed: mlp|lr|fm|embedding_mlp)");
  StatusOr<JobSpec> mlp_tables = ParseJobToml("[[sparse_table]]\nname = \"x\"\n", "j.toml");
  REQUIRE_FALSE(mlp_tables.ok());
  CHECK(mlp_tables.status().message().find("only sparse models") != std::string::npos);
}

}  // namespace pst

namespace pst {

TEST_CASE("JobFile: the [network] section sets the servers' limits", "[common]") {
  auto job = ParseJobToml(
      "[network]\nmax_clients = 7\nmax_in_flight_per_client = 3\nmax_frame_bytes = 4096\n"
      "max_ids_per_request = 9\n",
      "job.toml");
  REQUIRE(job.ok());
  CHECK(job->network.max_clients == 7);
  CHECK(job->network.max_in_flight_per_client == 3);
  CHECK(job->network.max_frame_bytes == 4096);
  CHECK(job->network.max_ids_per_request == 9);
  auto again = ParseJobToml(JobSpecToToml(*job), "again.toml");
  REQUIRE(again.ok());
  CHECK(*again == *job);
  for (const char* bad : {"max_clients = 0", "max_in_flight_per_client = 0",
                          "max_frame_bytes = 2", "max_ids_per_request = 0"}) {
    auto refused = ParseJobToml(std::string("[network]\n") + bad + "\n", "bad.toml");
    INFO(bad);
    REQUIRE_FALSE(refused.ok());
    CHECK(refused.status().message().find(std::string(bad).substr(0, std::string(bad).find(' '))) !=
          std::string::npos);
  }
}

}  // namespace pst
