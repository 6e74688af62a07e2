#include "cli/progress.h"

#include <sstream>

#include <catch2/catch.hpp>

namespace pst {
namespace {

std::string OneLine(const ProgressSnapshot& p) {
  std::ostringstream out;
  ProgressPrinter printer(out, /*bar=*/false, /*quiet=*/false, std::chrono::seconds(0));
  printer.Update(p);
  return out.str();
}

TEST_CASE("ProgressPrinter: before the first step it says the job is starting, not zeros", "[cli]") {
  ProgressSnapshot p;
  p.epoch = 1;
  p.epochs = 2;
  const std::string line = OneLine(p);
  CHECK(line.find("starting") != std::string::npos);
  CHECK(line.find("loss") == std::string::npos);
  CHECK(line.find("eta ?") == std::string::npos);
  p.steps = 10;  // steps ran, but no second of them measured yet
  const std::string early = OneLine(p);
  CHECK(early.find("starting: step 10") != std::string::npos);
  CHECK(early.find("0 samples/s") == std::string::npos);
}

TEST_CASE("ProgressPrinter: once measured it shows loss, accuracy, speed and eta", "[cli]") {
  ProgressSnapshot p;
  p.epoch = 2;
  p.epochs = 3;
  p.steps = 500;
  p.loss = 0.4321;
  p.samples_per_second = 1234;
  p.eta_seconds = 65;
  p.test_accuracy = 0.81;
  const std::string line = OneLine(p);
  CHECK(line.find("epoch 2/3  step 500  loss 0.4321  acc 0.8100  1234 samples/s  eta 1:05") != std::string::npos);
}

}  // namespace
}  // namespace pst
