#include "ps/job_fingerprint.h"

#include <string>

#include <catch2/catch.hpp>

#include "common/job_spec.h"

namespace pst {
namespace {

JobSpec FmJob() {
  JobSpec job;
  job.model.kind = ModelKind::kFm;
  job.model.factors = 4;
  job.optimizer.kind = OptimizerKind::kAdagrad;
  job.optimizer.learning_rate = 0.05f;
  job.sparse_data.format = DataFormat::kLibsvm;
  return job;
}

// The one-line refusal of restoring `stored`'s checkpoint into `current`.
std::string Refusal(const JobSpec& stored, const JobSpec& current) {
  const Status s = CheckJobFingerprint(JobFingerprint(stored), JobFingerprint(current));
  REQUIRE(s.code() == StatusCode::kFailedPrecondition);
  CHECK(s.message().find('\n') == std::string::npos);
  return s.message();
}

TEST_CASE("JobFingerprint: an MLP's is what it always was", "[ps]") {
  JobSpec job;
  CHECK(JobFingerprint(job) == "layers=784,128,10,;optimizer=adam;block_keys=65536;consistency=bsp");
  CHECK(CheckJobFingerprint(JobFingerprint(job), JobFingerprint(job)).ok());
}

TEST_CASE("JobFingerprint names each sparse table's dim, resolved optimizer and seed", "[ps]") {
  const JobSpec job = FmJob();
  const std::string f = JobFingerprint(job);
  CHECK(f.find(";model=fm;table=fm.rows:dim=5,optimizer=adagrad(") != std::string::npos);
  CHECK(f.find("lr=0.05") != std::string::npos);
  CHECK(f.find("epsilon=") != std::string::npos);  // defaults are part of it
  CHECK(f.find(",seed=1") != std::string::npos);
  CHECK(CheckJobFingerprint(f, JobFingerprint(FmJob())).ok());
}

TEST_CASE("A restore into a job with other sparse tables is refused naming the table", "[ps]") {
  const JobSpec base = FmJob();

  JobSpec dim = base;
  dim.model.factors = 8;
  std::string m = Refusal(base, dim);
  CHECK(m.find("sparse table 'fm.rows' differs") != std::string::npos);
  CHECK(m.find("dim=5") != std::string::npos);
  CHECK(m.find("dim=9") != std::string::npos);

  JobSpec rule = base;
  SparseTableConfig ftrl;
  ftrl.name = "fm.rows";
  ftrl.optimizer = "ftrl";
  rule.sparse_tables.push_back(ftrl);
  m = Refusal(base, rule);
  CHECK(m.find("sparse table 'fm.rows' differs") != std::string::npos);
  CHECK(m.find("optimizer=ftrl(") != std::string::npos);

  JobSpec param = base;
  SparseTableConfig adagrad;
  adagrad.name = "fm.rows";
  adagrad.optimizer = "adagrad";
  adagrad.params = {{"lr", 0.2}};
  param.sparse_tables.push_back(adagrad);
  m = Refusal(base, param);
  CHECK(m.find("lr=0.2") != std::string::npos);

  JobSpec seed = base;
  SparseTableConfig seeded;
  seeded.name = "fm.rows";
  seeded.seed = 77;
  seed.sparse_tables.push_back(seeded);
  m = Refusal(base, seed);
  CHECK(m.find("seed=77") != std::string::npos);

  // Another model: its tables are other tables.
  JobSpec dlrm = base;
  dlrm.model.kind = ModelKind::kEmbeddingMlp;
  CHECK(Refusal(base, dlrm).find("another job") != std::string::npos);
  // A dense setting that differs: the whole fingerprints.
  JobSpec asp = base;
  asp.train.consistency = Consistency::kAsp;
  m = Refusal(base, asp);
  CHECK(m.find("consistency=bsp") != std::string::npos);
  CHECK(m.find("consistency=asp") != std::string::npos);
}

TEST_CASE("CheckJobFingerprint: a table on one side only", "[ps]") {
  const std::string head = "layers=;optimizer=adagrad;block_keys=65536;consistency=bsp;model=x";
  const std::string a = head + ";table=t1:dim=2,optimizer=sgd(lr=1),seed=1";
  const std::string b = a + ";table=t2:dim=3,optimizer=sgd(lr=1),seed=1";
  CHECK(CheckJobFingerprint(b, a).message().find("the checkpoint has sparse table 't2'") !=
        std::string::npos);
  CHECK(CheckJobFingerprint(a, b).message().find("this job's sparse table 't2'") !=
        std::string::npos);
}

}  // namespace
}  // namespace pst
