// pstrain-ctr-reference: trains logistic regression, a factorization machine
// or an embedding + MLP in one process (bench/ctr_reference.h) and prints the test AUC and
// log-loss after every epoch: the baseline for distributed runs of the same
// model, data and hyper-parameters. Exit code 0, 1 on an error (one line on
// stderr), 2 for a bad flag.
#include <cstdio>
#include <string>

#include <CLI/CLI.hpp>

#include "bench/ctr_reference.h"
#include "common/role_main.h"

int main(int argc, char** argv) {
  pst::bench::CtrReferenceOptions o;
  std::string format = "libsvm";
  CLI::App app{"pstrain-ctr-reference: single-process LR / FM / embedding-MLP baseline on libsvm or Criteo data.",
               "pstrain-ctr-reference"};
  app.footer(
      "Example:\n  pstrain-ctr-reference --train data/movielens/train.svm "
      "--test data/movielens/test.svm --model fm");
  app.add_option("--train", o.train_path, "Training file")->required();
  app.add_option("--test", o.test_path, "Test file")->required();
  app.add_option("--format", format, "libsvm|criteo")->capture_default_str();
  app.add_option("--model", o.model.kind, "lr|fm|dlrm")->capture_default_str();
  app.add_option("--factors", o.model.num_factors, "fm: latent factors per id")->capture_default_str();
  app.add_option("--embedding-dim", o.model.embedding_dim, "dlrm: floats per embedding row")
      ->capture_default_str();
  app.add_option("--hidden", o.model.hidden, "dlrm: hidden layer widths (comma-separated)")
      ->delimiter(',')->capture_default_str();
  app.add_option("--init-scale", o.model.init_scale, "fm, dlrm: rows start uniform in [-s, s)")
      ->capture_default_str();
  app.add_option("--batch", o.batch_size, "Samples per step")->capture_default_str();
  app.add_option("--epochs", o.epochs, "Passes over the training file")->capture_default_str();
  app.add_option("--lr", o.learning_rate, "Adagrad learning rate")->capture_default_str();
  app.add_option("--seed", o.model.seed, "Seed of the tables' initialisation")->capture_default_str();
  app.add_flag("--skip-bad-lines", o.reader.skip_bad_lines, "Count and skip malformed lines");
  if (auto code = pst::ParseFlags(app, argc, argv)) return *code;
  auto parsed = pst::ParseDataFormat(format);
  if (!parsed.ok()) {
    std::fprintf(stderr, "pstrain-ctr-reference: error: %s\n", parsed.status().message().c_str());
    return 2;
  }
  o.reader.format = *parsed;
  std::printf("model %s  batch %u  Adagrad lr %g  %s\n", o.model.kind.c_str(), o.batch_size,
              static_cast<double>(o.learning_rate), o.train_path.c_str());
  auto results = pst::bench::TrainCtrReference(o, [](const pst::bench::CtrEpochResult& r) {
    std::printf("epoch %u  train log-loss %.4f  test AUC %.4f  test log-loss %.4f  rows %llu  %.1f s\n",
                r.epoch, r.train_log_loss, r.test_auc, r.test_log_loss,
                static_cast<unsigned long long>(r.rows), r.seconds);
    if (r.bad_lines > 0) {
      std::printf("  skipped %llu malformed lines, the last: %s\n",
                  static_cast<unsigned long long>(r.bad_lines), r.last_bad_line.c_str());
    }
    std::fflush(stdout);
  });
  if (!results.ok()) {
    std::fprintf(stderr, "pstrain-ctr-reference: error: %s\n", results.status().message().c_str());
    return 1;
  }
  return 0;
}
