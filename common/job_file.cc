#include "common/job_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <toml++/toml.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <exception>
#include <limits>
#include <string>
#include <system_error>
#include <vector>

#include "common/optimizer_catalog.h"
#include "common/sparse_optimizer_catalog.h"

namespace pst {
namespace {

// Job files are a few hundred bytes; the cap stops a wrong path (a dataset,
// /dev/zero) from being read into memory whole.
constexpr size_t kMaxJobFileBytes = 1 << 20;

constexpr std::string_view kTables[] = {"data",       "model",   "optimizer", "train",
                                        "checkpoint", "cluster", "network",   "sparse_table"};

std::string ErrnoMessage(int err) {
  return std::error_code(err, std::generic_category()).message();
}

// Escapes `s` as the inside of a TOML basic string. Also used for values and
// keys quoted in error messages, which keeps those messages on one line.
std::string EscapeToml(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (char c : s) {
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\b':
        out += "\\b";
        break;
      case '\t':
        out += "\\t";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\f':
        out += "\\f";
        break;
      case '\r':
        out += "\\r";
        break;
      default:
        if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) {
          static constexpr char kHex[] = "0123456789ABCDEF";
          out += "\\u00";
          out += kHex[(c >> 4) & 0xf];
          out += kHex[c & 0xf];
        } else {
          out += c;
        }
    }
  }
  return out;
}

std::string FormatDouble(double v) {
  char buf[64];
  auto res = std::to_chars(buf, buf + sizeof(buf), v);
  return std::string(buf, res.ptr);
}

// Shortest text that ParseJobToml turns back into exactly `v`.
std::string FormatFloat(float v) {
  if (std::isnan(v)) return "nan";
  if (std::isinf(v)) return v > 0 ? "inf" : "-inf";
  char buf[64];
  auto res = std::to_chars(buf, buf + sizeof(buf), v);
  std::string s(buf, res.ptr);
  // The reader parses a double and narrows it to float. That double rounding
  // can, in rare cases, land on a neighbour of `v`; then write the exact
  // double value of `v` instead, which narrows back without loss.
  double parsed = 0;
  std::from_chars(s.data(), s.data() + s.size(), parsed);
  if (static_cast<float>(parsed) != v) s = FormatDouble(static_cast<double>(v));
  // Without '.' or an exponent TOML reads an integer. The reader accepts that
  // too, but a float looks like a float to whoever edits the file.
  if (s.find_first_of(".e") == std::string::npos) s += ".0";
  return s;
}

// How a value is shown after "got" in an error message.
std::string Describe(const toml::node& node) {
  switch (node.type()) {
    case toml::node_type::string: {
      constexpr size_t kMaxShown = 60;
      std::string_view s = node.as_string()->get();
      if (s.size() <= kMaxShown) return "\"" + EscapeToml(s) + "\"";
      return "\"" + EscapeToml(s.substr(0, kMaxShown)) + "...\"";
    }
    case toml::node_type::integer:
      return std::to_string(node.as_integer()->get());
    case toml::node_type::floating_point:
      return FormatDouble(node.as_floating_point()->get());
    case toml::node_type::boolean:
      return node.as_boolean()->get() ? "true" : "false";
    case toml::node_type::array:
      return "an array";
    case toml::node_type::table:
      return "a table";
    case toml::node_type::date:
    case toml::node_type::time:
    case toml::node_type::date_time:
      return "a date/time";
    case toml::node_type::none:
      break;
  }
  return "nothing";
}

std::string JoinNames(const std::vector<std::string_view>& names) {
  std::string out;
  for (std::string_view n : names) {
    if (!out.empty()) out += ", ";
    out += n;
  }
  return out;
}

// Reads the keys of one table into struct fields. Each getter leaves the field
// alone if the key is absent, and records the key as allowed, so that
// CheckNoUnknownKeys() after all getters knows the complete set.
class TableReader {
 public:
  TableReader(const toml::table& table, std::string_view name) : table_(table), name_(name) {}

  template <typename T>
  Status Unsigned(std::string_view key, T* out) {
    const toml::node* node = Find(key);
    if (node == nullptr) return Status::OK();
    return ToUnsigned(*node, Field(key), out);
  }

  Status Float(std::string_view key, float* out) {
    const toml::node* node = Find(key);
    if (node == nullptr) return Status::OK();
    double v;
    if (const auto* i = node->as_integer()) {
      v = static_cast<double>(i->get());
    } else if (const auto* f = node->as_floating_point()) {
      v = f->get();
    } else {
      return Status::InvalidArgument(Field(key) + ": expected a number, got " + Describe(*node));
    }
    // Narrowing a finite double outside float's range is undefined behaviour.
    // inf and nan narrow fine and are left to the Validate* functions.
    if (std::isfinite(v) && std::fabs(v) > std::numeric_limits<float>::max()) {
      return Status::InvalidArgument(
          Field(key) + ": expected a number within 32-bit float range, got " + Describe(*node));
    }
    *out = static_cast<float>(v);
    return Status::OK();
  }

  Status String(std::string_view key, std::string* out) {
    const toml::node* node = Find(key);
    if (node == nullptr) return Status::OK();
    return ToString(*node, Field(key), out);
  }

  template <typename E>
  Status Enum(std::string_view key, StatusOr<E> (*parse)(const std::string&), E* out) {
    const toml::node* node = Find(key);
    if (node == nullptr) return Status::OK();
    std::string name;
    PST_RETURN_IF_ERROR(ToString(*node, Field(key), &name));
    StatusOr<E> parsed = parse(name);
    // The Parse* message says what is allowed ("unknown activation 'x' (allowed: ...)").
    if (!parsed.ok()) return parsed.status().WithContext(Field(key));
    *out = *parsed;
    return Status::OK();
  }

  Status UnsignedArray(std::string_view key, std::vector<uint32_t>* out) {
    const toml::node* node = Find(key);
    if (node == nullptr) return Status::OK();
    const auto* array = node->as_array();
    if (array == nullptr) {
      return Status::InvalidArgument(Field(key) + ": expected an array of integers, got " +
                                     Describe(*node));
    }
    std::vector<uint32_t> values(array->size());
    for (size_t i = 0; i < array->size(); ++i) {
      PST_RETURN_IF_ERROR(
          ToUnsigned(*array->get(i), Field(key) + "[" + std::to_string(i) + "]", &values[i]));
    }
    *out = std::move(values);
    return Status::OK();
  }

  Status Bool(std::string_view key, bool* out) {
    const toml::node* node = Find(key);
    if (node == nullptr) return Status::OK();
    const auto* b = node->as_boolean();
    if (b == nullptr)
      return Status::InvalidArgument(Field(key) + ": expected true or false, got " + Describe(*node));
    *out = b->get();
    return Status::OK();
  }

  Status Double(std::string_view key, double* out) {
    float f = 0;
    const toml::node* node = table_.get(key);
    if (node != nullptr && node->as_floating_point() != nullptr) {
      Find(key);
      *out = node->as_floating_point()->get();
      return Status::OK();
    }
    PST_RETURN_IF_ERROR(Float(key, &f));
    if (node != nullptr) *out = f;
    return Status::OK();
  }

  // Marks `key` as allowed without reading it (the caller read it).
  Status Skip(std::string_view key) {
    Find(key);
    return Status::OK();
  }

  Status CheckNoUnknownKeys() const {
    for (auto&& [key, node] : table_) {
      bool known = false;
      for (std::string_view a : allowed_) known = known || key.str() == a;
      if (!known) {
        return Status::InvalidArgument("unknown key '" + Field(EscapeToml(key.str())) +
                                       "' (allowed: " + JoinNames(allowed_) + ")");
      }
    }
    return Status::OK();
  }

 private:
  const toml::node* Find(std::string_view key) {
    allowed_.push_back(key);
    return table_.get(key);
  }

  std::string Field(std::string_view key) const { return name_ + "." + std::string(key); }

  static Status ToString(const toml::node& node, const std::string& field, std::string* out) {
    const auto* s = node.as_string();
    if (s == nullptr) {
      return Status::InvalidArgument(field + ": expected a string, got " + Describe(node));
    }
    *out = s->get();
    return Status::OK();
  }

  template <typename T>
  static Status ToUnsigned(const toml::node& node, const std::string& field, T* out) {
    // TOML integers are int64, so that bounds what a file can say even for uint64 fields.
    constexpr uint64_t kMax =
        std::min<uint64_t>(std::numeric_limits<T>::max(), std::numeric_limits<int64_t>::max());
    const auto* i = node.as_integer();
    if (i == nullptr || i->get() < 0 || static_cast<uint64_t>(i->get()) > kMax) {
      return Status::InvalidArgument(field + ": expected an integer in [0, " +
                                     std::to_string(kMax) + "], got " + Describe(node));
    }
    *out = static_cast<T>(i->get());
    return Status::OK();
  }

  const toml::table& table_;
  std::string name_;
  std::vector<std::string_view> allowed_;
};

StatusOr<DataFormat> ParseDataFormatName(const std::string& name) { return ParseDataFormat(name); }

Status ReadData(const toml::table& t, JobSpec* spec) {
  TableReader r(t, "data");
  PST_RETURN_IF_ERROR(r.String("dir", &spec->data_dir));
  SparseDataSpec& d = spec->sparse_data;
  PST_RETURN_IF_ERROR(r.Enum("format", &ParseDataFormatName, &d.format));
  PST_RETURN_IF_ERROR(r.String("train", &d.train));
  PST_RETURN_IF_ERROR(r.String("test", &d.test));
  PST_RETURN_IF_ERROR(r.Unsigned("dense_features", &d.dense_features));
  PST_RETURN_IF_ERROR(r.Unsigned("categorical_fields", &d.categorical_fields));
  PST_RETURN_IF_ERROR(r.Unsigned("hash_seed", &d.hash_seed));
  PST_RETURN_IF_ERROR(r.Bool("skip_bad_lines", &d.skip_bad_lines));
  return r.CheckNoUnknownKeys();
}

// One [[sparse_table]] entry: its fixed keys, then the parameters of the rule
// it names (the catalogue's names), so an unknown key lists those too.
Status ReadSparseTable(const toml::table& t, size_t index, SparseTableConfig* c) {
  TableReader r(t, "sparse_table[" + std::to_string(index) + "]");
  PST_RETURN_IF_ERROR(r.String("name", &c->name));
  if (c->name.empty())
    return Status::InvalidArgument("sparse_table[" + std::to_string(index) +
                                   "].name: required (the model's table, e.g. \"fm.rows\")");
  PST_RETURN_IF_ERROR(r.Unsigned("dim", &c->dim));
  PST_RETURN_IF_ERROR(r.String("optimizer", &c->optimizer));
  PST_RETURN_IF_ERROR(r.Unsigned("admit_after", &c->admit_after));
  PST_RETURN_IF_ERROR(r.Unsigned("evict_after_steps", &c->evict_after_steps));
  PST_RETURN_IF_ERROR(r.Unsigned("max_rows", &c->max_rows));
  PST_RETURN_IF_ERROR(r.Unsigned("seed", &c->seed));
  if (const SparseOptimizerDescription* rule = FindSparseOptimizer(c->optimizer)) {
    for (const OptimizerParamInfo& p : rule->params) {
      if (t.get(p.name) == nullptr) {
        PST_RETURN_IF_ERROR(r.Skip(p.name));
        continue;
      }
      double v = 0;
      PST_RETURN_IF_ERROR(r.Double(p.name, &v));
      c->params[p.name] = v;
    }
  } else if (!c->optimizer.empty()) {
    return Status::InvalidArgument("sparse_table[" + std::to_string(index) +
                                   "].optimizer: unknown sparse optimizer '" +
                                   EscapeToml(c->optimizer) +
                                   "' (allowed: " + SparseOptimizerNames("|") + ")");
  }
  return r.CheckNoUnknownKeys();
}

Status ReadSparseTables(const toml::node& node, JobSpec* spec) {
  const auto* array = node.as_array();
  if (array == nullptr) {
    return Status::InvalidArgument(
        "sparse_table: expected an array of tables ([[sparse_table]]), got " + Describe(node));
  }
  for (size_t i = 0; i < array->size(); ++i) {
    const auto* t = array->get(i)->as_table();
    if (t == nullptr) {
      return Status::InvalidArgument("sparse_table[" + std::to_string(i) +
                                     "]: expected a table, got " + Describe(*array->get(i)));
    }
    SparseTableConfig c;
    PST_RETURN_IF_ERROR(ReadSparseTable(*t, i, &c));
    spec->sparse_tables.push_back(std::move(c));
  }
  return Status::OK();
}

Status ReadModel(const toml::table& t, ModelSpec* m) {
  TableReader r(t, "model");
  PST_RETURN_IF_ERROR(r.UnsignedArray("layers", &m->layer_sizes));
  PST_RETURN_IF_ERROR(r.Enum("activation", &ParseActivation, &m->activation));
  PST_RETURN_IF_ERROR(r.Enum("init", &ParseInitKind, &m->init));
  PST_RETURN_IF_ERROR(r.Unsigned("seed", &m->seed));
  PST_RETURN_IF_ERROR(r.Enum("loss", &ParseLossKind, &m->loss));
  PST_RETURN_IF_ERROR(r.Enum("kind", &ParseModelKind, &m->kind));
  PST_RETURN_IF_ERROR(r.Unsigned("factors", &m->factors));
  PST_RETURN_IF_ERROR(r.Unsigned("embedding_dim", &m->embedding_dim));
  PST_RETURN_IF_ERROR(r.UnsignedArray("hidden", &m->hidden));
  PST_RETURN_IF_ERROR(r.Float("init_scale", &m->init_scale));
  return r.CheckNoUnknownKeys();
}

Status ReadOptimizer(const toml::table& t, OptimizerSpec* o) {
  TableReader r(t, "optimizer");
  PST_RETURN_IF_ERROR(r.Enum("kind", &ParseOptimizerKind, &o->kind));
  // The update rules' parameters, as the catalog lists them (ranges are
  // checked by ValidateOptimizerSpec against the same entries).
  for (const DenseOptimizerParam& p : DenseOptimizerParams()) {
    PST_RETURN_IF_ERROR(r.Float(p.info.name, &(o->*p.field)));
  }
  PST_RETURN_IF_ERROR(r.Enum("schedule", &ParseLrSchedule, &o->schedule));
  PST_RETURN_IF_ERROR(r.Unsigned("step_size", &o->step_size));
  PST_RETURN_IF_ERROR(r.Float("step_gamma", &o->step_gamma));
  PST_RETURN_IF_ERROR(r.Unsigned("warmup_steps", &o->warmup_steps));
  PST_RETURN_IF_ERROR(r.Unsigned("total_steps", &o->total_steps));
  PST_RETURN_IF_ERROR(r.Float("clip_norm", &o->clip_norm));
  return r.CheckNoUnknownKeys();
}

Status ReadTrain(const toml::table& t, TrainSpec* s) {
  TableReader r(t, "train");
  PST_RETURN_IF_ERROR(r.Unsigned("batch_size", &s->batch_size));
  PST_RETURN_IF_ERROR(r.Unsigned("epochs", &s->epochs));
  PST_RETURN_IF_ERROR(r.Unsigned("batches_per_shard", &s->batches_per_shard));
  PST_RETURN_IF_ERROR(r.Unsigned("train_limit", &s->train_limit));
  PST_RETURN_IF_ERROR(r.Unsigned("test_limit", &s->test_limit));
  PST_RETURN_IF_ERROR(r.Enum("consistency", &ParseConsistency, &s->consistency));
  PST_RETURN_IF_ERROR(r.Unsigned("staleness", &s->staleness));
  PST_RETURN_IF_ERROR(r.Unsigned("block_keys", &s->block_keys));
  PST_RETURN_IF_ERROR(r.Float("target_accuracy", &s->target_accuracy));
  PST_RETURN_IF_ERROR(r.Float("target_auc", &s->target_auc));
  return r.CheckNoUnknownKeys();
}

Status ReadCheckpoint(const toml::table& t, CheckpointSpec* c) {
  TableReader r(t, "checkpoint");
  PST_RETURN_IF_ERROR(r.Unsigned("every_steps", &c->every_steps));
  PST_RETURN_IF_ERROR(r.Unsigned("every_seconds", &c->every_seconds));
  PST_RETURN_IF_ERROR(r.Unsigned("keep", &c->keep));
  return r.CheckNoUnknownKeys();
}

Status ReadNetwork(const toml::table& t, NetworkSpec* n) {
  TableReader r(t, "network");
  PST_RETURN_IF_ERROR(r.String("bind", &n->bind));
  PST_RETURN_IF_ERROR(r.String("advertise", &n->advertise));
  PST_RETURN_IF_ERROR(r.Unsigned("scheduler_port", &n->scheduler_port));
  PST_RETURN_IF_ERROR(r.String("admin_bind", &n->admin_bind));
  // -1 disables the endpoint; TOML has no unsigned type to stop us.
  if (const toml::node* a = t.get("admin_port"); a && a->as_integer() && a->as_integer()->get() == -1) {
    n->admin_port = -1;
    PST_RETURN_IF_ERROR(r.Skip("admin_port"));
  } else {
    uint32_t port = static_cast<uint32_t>(n->admin_port);
    PST_RETURN_IF_ERROR(r.Unsigned("admin_port", &port));
    n->admin_port = static_cast<int32_t>(std::min<uint32_t>(port, 1u << 30));
  }
  PST_RETURN_IF_ERROR(r.Unsigned("heartbeat_ms", &n->heartbeat_ms));
  PST_RETURN_IF_ERROR(r.Unsigned("heartbeat_timeout_ms", &n->heartbeat_timeout_ms));
  PST_RETURN_IF_ERROR(r.Unsigned("max_heartbeats_per_second", &n->max_heartbeats_per_second));
  PST_RETURN_IF_ERROR(r.String("key_dir", &n->key_dir));
  PST_RETURN_IF_ERROR(r.Unsigned("max_clients", &n->max_clients));
  PST_RETURN_IF_ERROR(r.Unsigned("max_in_flight_per_client", &n->max_in_flight_per_client));
  PST_RETURN_IF_ERROR(r.Unsigned("max_frame_bytes", &n->max_frame_bytes));
  PST_RETURN_IF_ERROR(r.Unsigned("max_ids_per_request", &n->max_ids_per_request));
  return r.CheckNoUnknownKeys();
}

Status ReadCluster(const toml::table& t, JobSpec* spec) {
  TableReader r(t, "cluster");
  PST_RETURN_IF_ERROR(r.Unsigned("servers", &spec->num_servers));
  PST_RETURN_IF_ERROR(r.Unsigned("workers", &spec->num_workers));
  return r.CheckNoUnknownKeys();
}

Status ReadRoot(const toml::table& root, JobSpec* spec) {
  std::vector<std::string_view> tables(std::begin(kTables), std::end(kTables));
  for (auto&& [key, node] : root) {
    bool known = false;
    for (std::string_view t : kTables) known = known || key.str() == t;
    if (!known) {
      return Status::InvalidArgument(
          std::string(node.is_table() ? "unknown table '" : "unknown top-level key '") +
          EscapeToml(key.str()) + "' (allowed tables: " + JoinNames(tables) + ")");
    }
    if (!node.is_table() && key.str() != "sparse_table") {
      return Status::InvalidArgument(std::string(key.str()) + ": expected a table, got " +
                                     Describe(node));
    }
  }
  if (const auto* t = root["data"].as_table()) PST_RETURN_IF_ERROR(ReadData(*t, spec));
  if (const auto* t = root["model"].as_table()) PST_RETURN_IF_ERROR(ReadModel(*t, &spec->model));
  if (const auto* t = root["optimizer"].as_table()) {
    PST_RETURN_IF_ERROR(ReadOptimizer(*t, &spec->optimizer));
  }
  if (const auto* t = root["train"].as_table()) PST_RETURN_IF_ERROR(ReadTrain(*t, &spec->train));
  if (const auto* t = root["checkpoint"].as_table()) {
    PST_RETURN_IF_ERROR(ReadCheckpoint(*t, &spec->checkpoint));
  }
  if (const auto* t = root["cluster"].as_table()) PST_RETURN_IF_ERROR(ReadCluster(*t, spec));
  if (const auto* t = root["network"].as_table()) PST_RETURN_IF_ERROR(ReadNetwork(*t, &spec->network));
  if (const toml::node* n = root.get("sparse_table")) PST_RETURN_IF_ERROR(ReadSparseTables(*n, spec));
  return Status::OK();
}

Status SyntaxError(const toml::parse_error& error, const std::string& origin) {
  std::string description(error.description());
  for (char& c : description) {
    if (c == '\n' || c == '\r') c = ' ';
  }
  const toml::source_position& pos = error.source().begin;
  return Status::InvalidArgument(origin + ":" + std::to_string(pos.line) + ":" +
                                 std::to_string(pos.column) +
                                 ": TOML syntax error: " + description);
}

StatusOr<JobSpec> ParseJobTomlOrThrow(std::string_view text, const std::string& origin) {
  // Debian builds libtomlplusplus with exceptions, so this is the branch
  // compiled here; the other keeps the file building with -fno-exceptions.
#if TOML_EXCEPTIONS
  toml::table root;
  try {
    root = toml::parse(text, std::string_view(origin));
  } catch (const toml::parse_error& e) {
    return SyntaxError(e, origin);
  }
#else
  toml::parse_result result = toml::parse(text, std::string_view(origin));
  if (!result) return SyntaxError(result.error(), origin);
  toml::table root = std::move(result).table();
#endif
  JobSpec spec;
  PST_RETURN_IF_ERROR(ReadRoot(root, &spec).WithContext(origin));
  PST_RETURN_IF_ERROR(ValidateJobSpec(spec).WithContext(origin));
  return spec;
}

class Fd {
 public:
  explicit Fd(int fd) : fd_(fd) {}
  ~Fd() {
    if (fd_ >= 0) ::close(fd_);
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int get() const { return fd_; }

 private:
  int fd_;
};

StatusOr<std::string> ReadSmallFile(const std::string& path) {
  Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (fd.get() < 0) {
    return Status::NotFound(path + ": cannot open job file: " + ErrnoMessage(errno));
  }
  struct stat st;
  if (::fstat(fd.get(), &st) == 0 && S_ISDIR(st.st_mode)) {
    return Status::InvalidArgument(path + ": is a directory, expected a TOML job file");
  }
  // Not only regular files: `--job /dev/stdin` or a pipe should work too, so
  // read until EOF rather than trusting st_size.
  std::string text;
  char buf[16384];
  while (true) {
    ssize_t n = ::read(fd.get(), buf, sizeof(buf));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return Status::Unavailable(path + ": read failed: " + ErrnoMessage(errno));
    if (n == 0) break;
    text.append(buf, static_cast<size_t>(n));
    if (text.size() > kMaxJobFileBytes) {
      return Status::InvalidArgument(path + ": larger than " + std::to_string(kMaxJobFileBytes) +
                                     " bytes; is this really a TOML job file?");
    }
  }
  return text;
}

void AppendKey(std::string* out, std::string_view key, const std::string& value) {
  *out += key;
  *out += " = ";
  *out += value;
  *out += '\n';
}

std::string Quoted(std::string_view s) { return "\"" + EscapeToml(s) + "\""; }

std::string UnsignedList(const std::vector<uint32_t>& values) {
  std::string out = "[";
  for (size_t i = 0; i < values.size(); ++i) {
    if (i > 0) out += ", ";
    out += std::to_string(values[i]);
  }
  return out + "]";
}

}  // namespace

StatusOr<JobSpec> ParseJobToml(std::string_view text, const std::string& origin) {
  // toml::table and the strings above allocate; std::bad_alloc must not
  // escape. Syntax errors are handled inside.
  try {
    return ParseJobTomlOrThrow(text, origin);
  } catch (const std::exception& e) {
    return Status::Internal(origin + ": while parsing the job file: " + e.what());
  }
}

StatusOr<JobSpec> LoadJobFile(const std::string& path) {
  try {
    PST_ASSIGN_OR_RETURN(std::string text, ReadSmallFile(path));
    return ParseJobToml(text, path);
  } catch (const std::exception& e) {
    return Status::Internal(path + ": while reading the job file: " + e.what());
  }
}

std::string JobSpecToToml(const JobSpec& spec) {
  std::string out;
  out += "[data]\n";
  AppendKey(&out, "dir", Quoted(spec.data_dir));
  const SparseDataSpec& d = spec.sparse_data;
  AppendKey(&out, "format", Quoted(DataFormatName(d.format)));
  AppendKey(&out, "train", Quoted(d.train));
  AppendKey(&out, "test", Quoted(d.test));
  AppendKey(&out, "dense_features", std::to_string(d.dense_features));
  AppendKey(&out, "categorical_fields", std::to_string(d.categorical_fields));
  AppendKey(&out, "hash_seed", std::to_string(d.hash_seed));
  AppendKey(&out, "skip_bad_lines", d.skip_bad_lines ? "true" : "false");

  const ModelSpec& m = spec.model;
  out += "\n[model]\n";
  AppendKey(&out, "layers", UnsignedList(m.layer_sizes));
  AppendKey(&out, "activation", Quoted(ActivationName(m.activation)));
  AppendKey(&out, "init", Quoted(InitKindName(m.init)));
  AppendKey(&out, "seed", std::to_string(m.seed));
  AppendKey(&out, "loss", Quoted(LossKindName(m.loss)));
  AppendKey(&out, "kind", Quoted(ModelKindName(m.kind)));
  AppendKey(&out, "factors", std::to_string(m.factors));
  AppendKey(&out, "embedding_dim", std::to_string(m.embedding_dim));
  AppendKey(&out, "hidden", UnsignedList(m.hidden));
  AppendKey(&out, "init_scale", FormatFloat(m.init_scale));

  const OptimizerSpec& o = spec.optimizer;
  out += "\n[optimizer]\n";
  AppendKey(&out, "kind", Quoted(OptimizerKindName(o.kind)));
  for (const DenseOptimizerParam& p : DenseOptimizerParams()) {
    AppendKey(&out, p.info.name, FormatFloat(o.*p.field));
  }
  AppendKey(&out, "schedule", Quoted(LrScheduleName(o.schedule)));
  AppendKey(&out, "step_size", std::to_string(o.step_size));
  AppendKey(&out, "step_gamma", FormatFloat(o.step_gamma));
  AppendKey(&out, "warmup_steps", std::to_string(o.warmup_steps));
  AppendKey(&out, "total_steps", std::to_string(o.total_steps));
  AppendKey(&out, "clip_norm", FormatFloat(o.clip_norm));

  const TrainSpec& t = spec.train;
  out += "\n[train]\n";
  AppendKey(&out, "batch_size", std::to_string(t.batch_size));
  AppendKey(&out, "epochs", std::to_string(t.epochs));
  AppendKey(&out, "batches_per_shard", std::to_string(t.batches_per_shard));
  AppendKey(&out, "train_limit", std::to_string(t.train_limit));
  AppendKey(&out, "test_limit", std::to_string(t.test_limit));
  AppendKey(&out, "consistency", Quoted(ConsistencyName(t.consistency)));
  AppendKey(&out, "staleness", std::to_string(t.staleness));
  AppendKey(&out, "block_keys", std::to_string(t.block_keys));
  AppendKey(&out, "target_accuracy", FormatFloat(t.target_accuracy));
  AppendKey(&out, "target_auc", FormatFloat(t.target_auc));

  const CheckpointSpec& c = spec.checkpoint;
  out += "\n[checkpoint]\n";
  AppendKey(&out, "every_steps", std::to_string(c.every_steps));
  AppendKey(&out, "every_seconds", std::to_string(c.every_seconds));
  AppendKey(&out, "keep", std::to_string(c.keep));

  out += "\n[cluster]\n";
  AppendKey(&out, "servers", std::to_string(spec.num_servers));
  AppendKey(&out, "workers", std::to_string(spec.num_workers));

  const NetworkSpec& n = spec.network;
  out += "\n[network]\n";
  AppendKey(&out, "bind", Quoted(n.bind));
  AppendKey(&out, "advertise", Quoted(n.advertise));
  AppendKey(&out, "scheduler_port", std::to_string(n.scheduler_port));
  AppendKey(&out, "admin_bind", Quoted(n.admin_bind));
  AppendKey(&out, "admin_port", std::to_string(n.admin_port));
  AppendKey(&out, "heartbeat_ms", std::to_string(n.heartbeat_ms));
  AppendKey(&out, "heartbeat_timeout_ms", std::to_string(n.heartbeat_timeout_ms));
  AppendKey(&out, "max_heartbeats_per_second", std::to_string(n.max_heartbeats_per_second));
  if (!n.key_dir.empty()) AppendKey(&out, "key_dir", Quoted(n.key_dir));
  AppendKey(&out, "max_clients", std::to_string(n.max_clients));
  AppendKey(&out, "max_in_flight_per_client", std::to_string(n.max_in_flight_per_client));
  AppendKey(&out, "max_frame_bytes", std::to_string(n.max_frame_bytes));
  AppendKey(&out, "max_ids_per_request", std::to_string(n.max_ids_per_request));

  for (const SparseTableConfig& c : spec.sparse_tables) {
    out += "\n[[sparse_table]]\n";
    AppendKey(&out, "name", Quoted(c.name));
    AppendKey(&out, "dim", std::to_string(c.dim));
    AppendKey(&out, "optimizer", Quoted(c.optimizer));
    for (const auto& [name, value] : c.params) {
      std::string v = FormatDouble(value);
      if (v.find_first_of(".en") == std::string::npos) v += ".0";  // a float, as read
      AppendKey(&out, name, v);
    }
    AppendKey(&out, "admit_after", std::to_string(c.admit_after));
    AppendKey(&out, "evict_after_steps", std::to_string(c.evict_after_steps));
    AppendKey(&out, "max_rows", std::to_string(c.max_rows));
    AppendKey(&out, "seed", std::to_string(c.seed));
  }
  return out;
}

}  // namespace pst
