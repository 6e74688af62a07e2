#include "ps/job_fingerprint.h"

#include <fmt/format.h>

#include <map>
#include <string_view>
#include <utility>
#include <vector>

#include "common/job_tables.h"
#include "common/sparse_optimizer_catalog.h"
#include "ps/sparse_table_spec.h"

namespace pst {
namespace {

constexpr std::string_view kTable = ";table=";

// "<name>:dim=..,optimizer=..(..),seed=.." of one sparse table.
std::string DescribeTable(const TableSpec& t) {
  std::string d = t.name + ":dim=" + std::to_string(t.dim) + ",optimizer=";
  StatusOr<SparseTableOptions> o = SparseTableOptionsFromSpec(t);
  if (!o.ok()) return d + "invalid";
  StatusOr<SparseOptimizerParams> params =
      ResolveSparseOptimizerParams(o->optimizer.name, o->optimizer.params, t.name);
  if (!params.ok()) return d + "invalid";
  d += o->optimizer.name + "(";
  bool first = true;
  for (const auto& [name, value] : *params) {
    d += fmt::format("{}{}={}", first ? "" : ",", name, value);
    first = false;
  }
  return d + "),seed=" + std::to_string(t.init.kind == TableInitKind::kZeros ? 0 : t.init.seed);
}

// The fingerprint without its tables, and its tables by name.
std::pair<std::string_view, std::map<std::string, std::string>> Split(std::string_view f) {
  std::map<std::string, std::string> tables;
  const size_t first = f.find(kTable);
  std::string_view rest = first == std::string_view::npos ? "" : f.substr(first);
  while (!rest.empty()) {
    rest.remove_prefix(kTable.size());
    const size_t end = rest.find(kTable);
    const std::string_view one = rest.substr(0, end);
    const size_t colon = one.find(':');
    tables[std::string(one.substr(0, colon))] =
        colon == std::string_view::npos ? "" : std::string(one.substr(colon + 1));
    rest = end == std::string_view::npos ? "" : rest.substr(end);
  }
  return {f.substr(0, first), std::move(tables)};
}

}  // namespace

std::string JobFingerprint(const JobSpec& job) {
  std::string f = "layers=";
  for (uint32_t l : job.model.layer_sizes) f += std::to_string(l) + ",";
  f += ";optimizer=" + std::string(OptimizerKindName(job.optimizer.kind));
  f += ";block_keys=" + std::to_string(BlockKeys(job.train));
  f += ";consistency=" + std::string(ConsistencyName(job.train.consistency));
  if (!job.sparse()) return f;
  f += ";model=" + std::string(ModelKindName(job.model.kind));
  StatusOr<std::vector<TableSpec>> tables = JobTables(job);
  if (!tables.ok()) return f + std::string(kTable) + "invalid";
  for (const TableSpec& t : *tables)
    if (t.kind == TableKind::kSparse) f += std::string(kTable) + DescribeTable(t);
  return f;
}

Status CheckJobFingerprint(const std::string& stored, const std::string& current) {
  if (stored == current) return Status::OK();
  const auto [stored_head, stored_tables] = Split(stored);
  const auto [current_head, current_tables] = Split(current);
  if (stored_head == current_head) {
    for (const auto& [name, want] : stored_tables) {
      auto it = current_tables.find(name);
      if (it == current_tables.end())
        return Status::FailedPrecondition("the checkpoint has sparse table '" + name +
                                          "', which this job does not have");
      if (it->second != want)
        return Status::FailedPrecondition("sparse table '" + name + "' differs: the checkpoint's is " +
                                          want + ", this job's is " + it->second);
    }
    for (const auto& [name, have] : current_tables)
      if (!stored_tables.count(name))
        return Status::FailedPrecondition("this job's sparse table '" + name +
                                          "' is not in the checkpoint");
    return Status::FailedPrecondition("the checkpoint's sparse tables are in another order");
  }
  return Status::FailedPrecondition("the checkpoint belongs to another job (" + stored +
                                    "; this job: " + current + ")");
}

}  // namespace pst
