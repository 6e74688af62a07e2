// Test helper shared by the job-file and wire-conversion tests.
#pragma once

#include <cstring>

#include <catch2/catch.hpp>

#include "common/job_spec.h"

namespace pst::testing {

inline bool SameBits(float a, float b) { return std::memcmp(&a, &b, sizeof(float)) == 0; }

// Checks that a and b are the same job: float fields bit for bit (round trips
// must not lose precision), then every field through operator==, so a field
// added later cannot be forgotten here.
inline void CheckSameJob(const JobSpec& a, const JobSpec& b) {
  const OptimizerSpec& x = a.optimizer;
  const OptimizerSpec& y = b.optimizer;
  CHECK(SameBits(x.learning_rate, y.learning_rate));
  CHECK(SameBits(x.momentum, y.momentum));
  CHECK(SameBits(x.beta1, y.beta1));
  CHECK(SameBits(x.beta2, y.beta2));
  CHECK(SameBits(x.epsilon, y.epsilon));
  CHECK(SameBits(x.weight_decay, y.weight_decay));
  CHECK(SameBits(x.step_gamma, y.step_gamma));
  CHECK(SameBits(x.clip_norm, y.clip_norm));
  CHECK(SameBits(a.train.target_accuracy, b.train.target_accuracy));
  CHECK(a.model == b.model);
  CHECK(a.optimizer == b.optimizer);
  CHECK(a.train == b.train);
  CHECK(a.checkpoint == b.checkpoint);
  CHECK(a == b);
  CHECK(a.data_dir == b.data_dir);
  CHECK(a.num_servers == b.num_servers);
  CHECK(a.num_workers == b.num_workers);
}

}  // namespace pst::testing
