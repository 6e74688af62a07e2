#include "scheduler/state_json.h"

#include <algorithm>

namespace pst {
namespace {

nlohmann::json NodeToJson(const NodeInfo& n) {
  return {{"rank", n.rank},
          {"endpoint", n.endpoint},
          {"host", n.host},
          {"pid", n.pid},
          {"gone", n.Gone()},
          {"registered", !n.identity.empty()},
          {"in_roster", n.in_roster},
          {"removing", n.removing},
          {"from_clock", n.from_clock},
          {"joining", n.joining},
          {"leave_requested", n.leave_requested}};
}

}  // namespace

nlohmann::json StateToJson(const SchedulerState& st, const std::string& endpoint) {
  nlohmann::json j;
  j["format"] = 1;
  j["endpoint"] = endpoint;
  j["generation"] = st.generation;
  j["restore_checkpoint"] = st.restore_checkpoint;
  j["resume_clock"] = st.resume_clock;
  j["last_checkpoint_id"] = st.coordinator.last_id();
  j["desired_workers"] = st.desired_workers;
  j["done"] = st.state == proto::JobState::DONE;
  j["elapsed_ms"] = st.ElapsedMs();
  for (const NodeInfo& n : st.servers) j["servers"].push_back(NodeToJson(n));
  for (const NodeInfo& n : st.workers) j["workers"].push_back(NodeToJson(n));
  j["servers"] = j.value("servers", nlohmann::json::array());
  j["workers"] = j.value("workers", nlohmann::json::array());
  j["epochs"] = nlohmann::json::array();
  for (const EpochRecord& e : st.epochs) {
    j["epochs"].push_back({{"samples", e.samples},
                           {"loss_sum", e.loss_sum},
                           {"evaluated", e.evaluated},
                           {"test_correct", e.test_correct},
                           {"test_total", e.test_total},
                           {"test_loss_sum", e.test_loss_sum},
                           {"has_auc", e.has_auc},
                           {"test_auc", e.test_auc},
                           {"start_ms", e.start_ms},
                           {"end_ms", e.end_ms},
                           {"wait_ms", e.wait_ms},
                           {"compute_ms", e.compute_ms},
                           {"push_ms", e.push_ms}});
  }
  j["rollbacks"] = nlohmann::json::array();
  for (const RollbackRecord& r : st.rollbacks) {
    j["rollbacks"].push_back({{"generation", r.generation},
                              {"checkpoint_id", r.checkpoint_id},
                              {"clock", r.clock},
                              {"lost_clocks", r.lost_clocks},
                              {"reason", r.reason},
                              {"start_ms", r.start_ms},
                              {"end_ms", r.end_ms}});
  }
  j["pool"] = st.pool ? st.pool->ToJson() : nlohmann::json();
  return j;
}

Status StateFromJson(const nlohmann::json& j, const JobSpec& job, SchedulerState* st) {
  (void)job;
  try {
    if (!j.is_object() || j.value("format", 0) != 1)
      return Status::DataLoss("job state: unknown format");
    st->generation = j.at("generation").get<uint32_t>();
    st->restore_checkpoint = j.at("restore_checkpoint").get<uint64_t>();
    st->resume_clock = j.at("resume_clock").get<uint64_t>();
    st->coordinator = CheckpointCoordinator(j.at("last_checkpoint_id").get<uint64_t>());
    st->desired_workers = j.at("desired_workers").get<uint32_t>();
    auto nodes = [](const nlohmann::json& list, proto::Role role, std::vector<NodeInfo>* out) {
      out->clear();
      for (const auto& x : list) {
        NodeInfo n;
        n.role = role;
        n.rank = x.at("rank").get<uint32_t>();
        if (n.rank != out->size()) throw std::runtime_error("ranks out of order");
        n.endpoint = x.at("endpoint").get<std::string>();
        n.host = x.at("host").get<std::string>();
        n.pid = x.at("pid").get<uint32_t>();
        n.state = x.at("gone").get<bool>() ? proto::NodeState::DEAD : proto::NodeState::ALIVE;
        // Nodes reach us by rank from now on; a placeholder marks the slot taken.
        if (x.at("registered").get<bool>()) n.identity = "restored";
        n.in_roster = x.at("in_roster").get<bool>();
        n.removing = x.at("removing").get<bool>();
        n.from_clock = x.at("from_clock").get<uint64_t>();
        n.joining = x.value("joining", false);  // absent in states from before it existed
        n.leave_requested = x.at("leave_requested").get<bool>();
        out->push_back(std::move(n));
      }
    };
    nodes(j.at("servers"), proto::Role::SERVER, &st->servers);
    nodes(j.at("workers"), proto::Role::WORKER, &st->workers);
    st->epochs.clear();
    for (const auto& x : j.at("epochs")) {
      EpochRecord e;
      e.samples = x.at("samples").get<uint64_t>();
      e.loss_sum = x.at("loss_sum").get<double>();
      e.evaluated = x.at("evaluated").get<bool>();
      e.test_correct = x.at("test_correct").get<uint64_t>();
      e.test_total = x.at("test_total").get<uint64_t>();
      e.test_loss_sum = x.at("test_loss_sum").get<double>();
      // Stores written before sparse models had no AUC.
      e.has_auc = x.value("has_auc", false);
      e.test_auc = x.value("test_auc", 0.0);
      e.start_ms = x.at("start_ms").get<uint64_t>();
      e.end_ms = x.at("end_ms").get<uint64_t>();
      e.wait_ms = x.at("wait_ms").get<double>();
      e.compute_ms = x.at("compute_ms").get<double>();
      e.push_ms = x.at("push_ms").get<double>();
      st->epochs.push_back(e);
    }
    st->rollbacks.clear();
    for (const auto& x : j.at("rollbacks")) {
      RollbackRecord r;
      r.generation = x.at("generation").get<uint32_t>();
      r.checkpoint_id = x.at("checkpoint_id").get<uint64_t>();
      r.clock = x.at("clock").get<uint64_t>();
      r.lost_clocks = x.at("lost_clocks").get<uint64_t>();
      r.reason = x.at("reason").get<std::string>();
      r.start_ms = x.at("start_ms").get<uint64_t>();
      r.end_ms = x.at("end_ms").get<uint64_t>();
      st->rollbacks.push_back(r);
    }
    st->pool.reset();
    if (!j.at("pool").is_null()) {
      auto pool = ShardPool::FromJson(j.at("pool"));
      if (!pool.ok()) return Status::DataLoss("job state: pool: " + pool.status().message());
      st->pool.emplace(std::move(pool).value());
      // Training time continues from where it was: at least as late as
      // anything recorded (the state was saved up to two seconds ago).
      uint64_t elapsed = j.value("elapsed_ms", uint64_t{0});
      for (const EpochRecord& e : st->epochs) elapsed = std::max({elapsed, e.start_ms, e.end_ms});
      for (const RollbackRecord& r : st->rollbacks) elapsed = std::max({elapsed, r.start_ms, r.end_ms});
      st->train_started = Clock::now() - std::chrono::milliseconds(elapsed);
    }
  } catch (const std::exception& e) {
    return Status::DataLoss(std::string("job state: ") + e.what());
  }
  return Status::OK();
}

}  // namespace pst
