// Job files: a JobSpec written as TOML, with tables [data], [model],
// [optimizer], [train] and [cluster]. Every table and key is optional; what is
// left out keeps its JobSpec default. Example:
//
//   [model]
//   layers = [784, 128, 10]
//   activation = "relu"        # relu|tanh|sigmoid
//   [optimizer]
//   kind = "adam"              # sgd|momentum|nesterov|adagrad|adam|adamw
//   learning_rate = 0.001
//   [train]
//   consistency = "ssp"        # bsp|asp|ssp
//   staleness = 2
//   [cluster]
//   servers = 2
//   workers = 4
//
// A sparse model (model.kind = "lr" | "fm" | "embedding_mlp") reads its data
// from [data] format / train / test (and, for criteo, dense_features,
// categorical_fields, hash_seed; skip_bad_lines), and each of its sparse
// tables may have a [[sparse_table]] entry: name, dim, optimizer (sgd |
// adagrad | ftrl | lazy_adam) and that rule's parameters as keys (ftrl: alpha,
// beta, l1, l2), admit_after, evict_after_steps, max_rows, seed.
//
// Key names are the JobSpec field names, except data.dir (JobSpec::data_dir),
// data.format/train/test/... (JobSpec::sparse_data), [[sparse_table]]
// (JobSpec::sparse_tables, optimizer parameters by name),
// model.layers (ModelSpec::layer_sizes), cluster.servers / cluster.workers
// (JobSpec::num_servers / num_workers). All functions are thread-safe and throw
// nothing.
#pragma once

#include <string>
#include <string_view>

#include "common/job_spec.h"
#include "common/status.h"

namespace pst {

// Parses a TOML job description and checks it with ValidateJobSpec.
// `origin` names the source in error messages (normally the file's path).
// Returns kInvalidArgument with a one-line message that starts with `origin`
// and names the field as `table.key`, for: TOML syntax errors (with
// "origin:line:col:"), unknown tables or keys (the message lists the allowed
// ones), a value of the wrong type (floats where integers are expected,
// negative or too large integers for unsigned fields), unknown enum names, and
// anything ValidateJobSpec rejects. Integers are accepted for float fields.
StatusOr<JobSpec> ParseJobToml(std::string_view text, const std::string& origin);

// Reads `path` and parses it with ParseJobToml(text, path).
// Returns kNotFound if the file cannot be opened, kInvalidArgument if it is not
// a regular file, is larger than 1 MiB or does not parse, kUnavailable if
// reading fails midway.
StatusOr<JobSpec> LoadJobFile(const std::string& path);

// Writes every field of `spec` as TOML. For any spec that passes
// ValidateJobSpec, ParseJobToml reads the result back to an equal spec,
// provided that data_dir is valid UTF-8 and the 64-bit fields (seed, step
// counts, limits) are at most 2^63-1, which is all a TOML integer can hold.
// Outside that, the text still says what the spec holds but does not parse.
std::string JobSpecToToml(const JobSpec& spec);

}  // namespace pst
