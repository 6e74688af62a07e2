// pstrain-datagen: prepares the sparse / CTR data sets.
//   synthetic   a seeded Criteo-like TSV pair from a hidden model (streamed);
//   movielens   the MovieLens export of deploy/data/prepare_movielens.sh -> libsvm;
//   spam        the SpamAssassin export of deploy/data/prepare_spam_assassin.sh -> libsvm.
// Exit code 0 on success, 1 on an error (one line on stderr), 2 for a bad flag.
#include <cstdio>
#include <filesystem>
#include <string>

#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include "common/role_main.h"
#include "datagen/libsvm_split.h"
#include "datagen/movielens.h"
#include "datagen/spam_assassin.h"
#include "datagen/synthetic_ctr.h"

namespace {

int Fail(const pst::Status& s) {
  std::fprintf(stderr, "pstrain-datagen: error: %s\n", s.message().c_str());
  return 1;
}

int WriteSplit(pst::StatusOr<std::vector<pst::LabelledSample>> samples, const std::string& name,
               const std::string& out_dir, double test_fraction, uint64_t seed) {
  if (!samples.ok()) return Fail(samples.status());
  std::error_code ec;
  std::filesystem::create_directories(out_dir, ec);
  const std::string train = out_dir + "/train.svm", test = out_dir + "/test.svm";
  auto counts = pst::WriteShuffledSplit(std::move(*samples), test_fraction, seed, train, test);
  if (!counts.ok()) return Fail(counts.status());
  std::printf("%s: %llu train samples (%.4f positive) in %s, %llu test samples (%.4f positive) in %s\n",
              name.c_str(), static_cast<unsigned long long>(counts->train),
              counts->train_positives / std::max(1.0, double(counts->train)), train.c_str(),
              static_cast<unsigned long long>(counts->test),
              counts->test_positives / std::max(1.0, double(counts->test)), test.c_str());
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"pstrain-datagen: prepares sparse / click-through data sets for pstrain.",
               "pstrain-datagen"};
  app.require_subcommand(1);
  app.footer(
      "Examples:\n"
      "  pstrain-datagen synthetic --out data/synthetic --samples 1000000 --vocabulary 1000000\n"
      "  deploy/data/prepare_movielens.sh      (runs pstrain-datagen movielens)\n"
      "  deploy/data/prepare_spam_assassin.sh  (runs pstrain-datagen spam)");

  pst::SyntheticCtrOptions synthetic;
  std::string out_dir;
  auto* syn = app.add_subcommand("synthetic", "Criteo-like TSV from a hidden model (train.tsv, test.tsv)");
  syn->add_option("--out", out_dir, "Output directory")->required();
  syn->add_option("--samples", synthetic.num_samples, "Samples, train and test together")->capture_default_str();
  syn->add_option("--test-fraction", synthetic.test_fraction, "Share of samples in test.tsv")->capture_default_str();
  syn->add_option("--seed", synthetic.seed, "Seed of the data and the hidden model")->capture_default_str();
  syn->add_option("--vocabulary", synthetic.vocabulary,
                  "Vocabulary per categorical field: one value, or one per field (<= 10^9)")
      ->capture_default_str()->delimiter(',');
  syn->add_option("--zipf", synthetic.zipf_s, "Zipf exponent of the category ids")->capture_default_str();
  syn->add_option("--dense", synthetic.num_dense, "Integer features per sample")->capture_default_str();
  syn->add_option("--categorical", synthetic.num_categorical, "Categorical fields per sample")->capture_default_str();

  std::string input;
  double test_fraction = 0.2;
  uint64_t seed = 1;
  uint32_t hash_bits = 20;
  auto* ml = app.add_subcommand("movielens", "MovieLens ratings export -> CTR libsvm (train.svm, test.svm)");
  ml->add_option("--input", input, "ratings.tsv written by deploy/data/prepare_movielens.sh")->required();
  ml->add_option("--out", out_dir, "Output directory")->required();
  ml->add_option("--test-fraction", test_fraction, "Share of ratings in test.svm")->capture_default_str();
  ml->add_option("--seed", seed, "Seed of the shuffle and split")->capture_default_str();
  auto* spam = app.add_subcommand("spam", "SpamAssassin JSON lines -> hashed-token libsvm");
  spam->add_option("--input", input, "emails.jsonl written by deploy/data/prepare_spam_assassin.sh")->required();
  spam->add_option("--out", out_dir, "Output directory")->required();
  spam->add_option("--test-fraction", test_fraction, "Share of emails in test.svm")->capture_default_str();
  spam->add_option("--seed", seed, "Seed of the shuffle and split")->capture_default_str();
  spam->add_option("--hash-bits", hash_bits, "Token ids are hashed into [0, 2^bits)")->capture_default_str();

  if (auto code = pst::ParseFlags(app, argc, argv)) return *code;

  if (*ml) return WriteSplit(pst::ReadMovieLensRatings(input), "movielens", out_dir, test_fraction, seed);
  if (*spam) {
    return WriteSplit(pst::ReadSpamAssassin(input, hash_bits), "spam", out_dir, test_fraction, seed);
  }
  pst::Status valid = pst::ValidateSyntheticCtrOptions(synthetic);
  if (!valid.ok()) return Fail(valid);
  std::error_code ec;
  std::filesystem::create_directories(out_dir, ec);
  const std::string train = out_dir + "/train.tsv", test = out_dir + "/test.tsv";
  auto stats = pst::GenerateSyntheticCtr(synthetic, train, test);
  if (!stats.ok()) return Fail(stats.status());
  std::printf(
      "synthetic: %llu train samples in %s, %llu test samples in %s, %.4f positive\n"
      "synthetic: best achievable test AUC %.4f, log-loss %.4f (the hidden model's own "
      "probabilities)\n",
      static_cast<unsigned long long>(stats->train_samples), train.c_str(),
      static_cast<unsigned long long>(stats->test_samples), test.c_str(),
      stats->positives / std::max(1.0, double(stats->train_samples + stats->test_samples)),
      stats->best_test_auc, stats->best_test_log_loss);
  return 0;
}
