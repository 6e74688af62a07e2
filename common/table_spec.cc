#include "common/table_spec.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <set>

#include "common/hash.h"

namespace pst {
namespace {

bool ValidName(const std::string& name) {
  if (name.empty() || name.size() > 64) return false;
  return std::all_of(name.begin(), name.end(), [](unsigned char c) {
    return std::isalnum(c) || c == '_' || c == '.' || c == '-';
  });
}

}  // namespace

const char* TableKindName(TableKind kind) {
  switch (kind) {
    case TableKind::kDense:
      return "dense";
    case TableKind::kSparse:
      return "sparse";
  }
  return "unknown";
}

Status ValidateTableSpec(const TableSpec& t) {
  const std::string who = "table '" + t.name + "': ";
  if (!ValidName(t.name))
    return Status::InvalidArgument(who + "a name is 1 to 64 letters, digits, '_', '.' or '-'");
  switch (t.kind) {
    case TableKind::kDense:
      if (t.size == 0) return Status::InvalidArgument(who + "a dense table needs size >= 1");
      if (t.dim != 0) return Status::InvalidArgument(who + "a dense table has no dim (set size)");
      break;
    case TableKind::kSparse:
      if (t.dim == 0) return Status::InvalidArgument(who + "a sparse table needs dim >= 1");
      if (t.size != 0)
        return Status::InvalidArgument(who +
                                       "a sparse table has no size (rows are created on use)");
      break;
    default:
      return Status::InvalidArgument(who + "unknown kind");
  }
  switch (t.init.kind) {
    case TableInitKind::kZeros:
      break;
    case TableInitKind::kUniform:
      if (!std::isfinite(t.init.scale) || t.init.scale < 0)
        return Status::InvalidArgument(who +
                                       "a uniform initializer's scale must be finite and >= 0");
      break;
    default:
      return Status::InvalidArgument(who + "unknown initializer");
  }
  Status s = ValidateOptimizerSpec(t.optimizer);
  if (!s.ok()) return Status::InvalidArgument(who + s.message());
  return Status::OK();
}

Status ValidateTables(const std::vector<TableSpec>& tables) {
  if (tables.empty()) return Status::InvalidArgument("a model declares no tables");
  std::set<std::string> names;
  for (const TableSpec& t : tables) {
    PST_RETURN_IF_ERROR(ValidateTableSpec(t));
    if (!names.insert(t.name).second)
      return Status::InvalidArgument("table '" + t.name + "' is declared twice");
  }
  return Status::OK();
}

uint64_t DenseKeyCount(const std::vector<TableSpec>& tables) {
  uint64_t n = 0;
  for (const TableSpec& t : tables)
    if (t.kind == TableKind::kDense) n += t.size;
  return n;
}

void InitDenseKeys(const std::vector<TableSpec>& tables, uint64_t begin, uint64_t end, float* out) {
  uint64_t offset = 0;
  for (const TableSpec& t : tables) {
    if (t.kind != TableKind::kDense) continue;
    const uint64_t lo = std::max(begin, offset), hi = std::min(end, offset + t.size);
    offset += t.size;
    if (lo >= hi) continue;
    if (t.init.kind == TableInitKind::kZeros) {
      std::fill(out + (lo - begin), out + (hi - begin), 0.0f);
      continue;
    }
    for (uint64_t k = lo; k < hi; ++k) {
      // Mix64 is counter-based, so a key's initial value needs no state from
      // the keys before it; uniform in [0, 1), then scaled to [-scale, scale).
      const double u = UnitInterval(Mix64(t.init.seed * 0x100000001b3ull ^ Mix64(k)));
      out[k - begin] = float((2.0 * u - 1.0) * t.init.scale);
    }
  }
}

}  // namespace pst
