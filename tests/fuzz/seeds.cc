// Writes the seed corpora of the fuzz targets into DIR/<target>/ (DIR is the
// only argument; normally tests/fuzz/corpus). Seeds are well-formed inputs of
// each format, so the fuzzer starts from the code paths that accept them.
#include <zlib.h>

#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <string>
#include <vector>

#include <zmq.hpp>

#include "common/job_file.h"
#include "common/job_spec.h"
#include "common/latency_histogram.h"
#include "common/rocksdb_records.h"
#include "common/safetensors.h"
#include "common/wire.h"
#include "tests/fuzz/frames.h"

namespace pst::fuzz {
namespace {

void Put(const std::string& dir, const std::string& name, const std::string& bytes) {
  std::filesystem::create_directories(dir);
  std::ofstream(dir + "/" + name, std::ios::binary) << bytes;
}

// The frames SendMessage puts on the wire for `msg`, joined as fuzz input.
std::string Frames(OutMessage& msg) {
  static zmq::context_t ctx(1);
  static zmq::socket_t router(ctx, zmq::socket_type::router);
  static zmq::socket_t dealer(ctx, zmq::socket_type::dealer);
  static bool connected = false;
  if (!connected) {
    router.bind("inproc://seeds");
    dealer.connect("inproc://seeds");
    connected = true;
  }
  if (!SendMessage(dealer, msg).ok()) std::abort();
  std::vector<std::string> frames;
  bool more = true;
  bool identity = true;
  while (more) {
    zmq::message_t part;
    if (!router.recv(part)) std::abort();
    more = part.more();
    if (identity) {
      identity = false;
      continue;
    }
    frames.push_back(part.to_string());
  }
  return JoinFrames(frames);
}

void RequestSeeds(const std::string& dir) {
  // Blocks of ps_request_fuzzer's shard: keys [0, 256) and [256, 306).
  std::vector<float> grads(256);
  for (size_t i = 0; i < grads.size(); ++i) grads[i] = 0.25f * float(i % 7) - 0.5f;
  {
    OutMessage m;
    auto r = m.envelope().getBody().initPushRequest();
    r.setRank(0);
    r.setKeyBegin(0);
    r.setKeyEnd(256);
    r.setSampleCount(1);
    m.AddFloatsCopy(grads.data(), 256);
    Put(dir, "push", Frames(m));
  }
  {
    OutMessage m;
    auto r = m.envelope().getBody().initPushRequest();
    r.setRank(1);
    r.setClock(0);
    r.setKeyBegin(256);
    r.setKeyEnd(306);
    r.setSampleCount(2);
    r.setThenPull(true);
    r.setPullClock(2);
    m.AddFloatsCopy(grads.data(), 50);
    Put(dir, "push-then-pull", Frames(m));
  }
  {
    OutMessage m;
    auto r = m.envelope().getBody().initPushRequest();
    r.setRank(1);
    r.setRetire(true);
    m.AddFloatsCopy(grads.data(), 0);
    Put(dir, "retire", Frames(m));
  }
  {
    OutMessage m;
    auto r = m.envelope().getBody().initPullRequest();
    r.setKeyBegin(0);
    r.setKeyEnd(306);
    r.setRank(1);
    Put(dir, "pull", Frames(m));
  }
  {
    OutMessage m;
    auto r = m.envelope().getBody().initShardRequest();
    r.setRank(0);
    r.setNumSamples(12000);
    Put(dir, "shard-request", Frames(m));
  }
  {
    OutMessage m;
    auto r = m.envelope().getBody().initHeartbeatRequest();
    r.setRank(1);
    r.setCheckpointError("disk full");
    r.initWorkers(2)[1].setRank(3);
    Put(dir, "heartbeat", Frames(m));
  }
}

void SchedulerSeeds(const std::string& dir) {
  {
    OutMessage m;
    auto r = m.envelope().getBody().initRegisterRequest();
    r.setRole(proto::Role::SERVER);
    r.setEndpoint("tcp://127.0.0.1:4000");
    r.setHost("host-a");
    r.setPid(42);
    r.setShardId(1);
    Put(dir, "register", Frames(m));
  }
  {
    OutMessage m;
    auto r = m.envelope().getBody().initHeartbeatRequest();
    r.setRole(proto::Role::WORKER);
    r.setRank(1);
    r.setClock(7);
    r.setSamples(640);
    r.setLossSum(12.5);
    auto buckets = r.initPullLatencyBuckets(LatencyHistogram::kNumBuckets);
    buckets.set(2, 5);
    r.setPullLatencySumSeconds(0.01);
    Put(dir, "heartbeat-histogram", Frames(m));
  }
  {
    OutMessage m;
    auto r = m.envelope().getBody().initShardRequest();
    r.setRank(0);
    r.setHasCompleted(true);
    r.setCompletedEpoch(1);
    r.setCompletedLossSum(3.5);
    r.setNumSamples(60000);
    Put(dir, "shard-request", Frames(m));
  }
  {
    OutMessage m;
    auto r = m.envelope().getBody().initEvalReport();
    r.setEpoch(2);
    r.setCorrect(80);
    r.setTotal(100);
    Put(dir, "eval-report", Frames(m));
  }
  {
    OutMessage m;
    m.envelope().getBody().initScaleRequest().setWorkers(3);
    Put(dir, "scale", Frames(m));
  }
  {
    OutMessage m;
    m.envelope().getBody().initCheckpointRequest().setTimeoutMs(500);
    Put(dir, "checkpoint", Frames(m));
  }
}

void SparseSeeds(const std::string& dir) {
  {
    OutMessage m;
    auto r = m.envelope().getBody().initSparsePullRequest();
    r.setTable("user");
    auto ids = r.initIds(3);
    for (uint32_t i = 0; i < 3; ++i) ids.set(i, i * 5);
    Put(dir, "pull", Frames(m));
  }
  {
    OutMessage m;
    auto r = m.envelope().getBody().initSparsePushRequest();
    r.setTable("item");
    auto ids = r.initIds(2);
    ids.set(0, 1);
    ids.set(1, 17);
    r.setSampleCount(4);
    const float grads[4] = {0.5f, -1, 0.25f, 2};
    m.AddFloatsCopy(grads, 4);
    Put(dir, "push", Frames(m));
  }
}

void DataLineSeeds(const std::string& dir) {
  // The first byte is the reader's configuration (see data_lines_fuzzer.cc).
  Put(dir, "libsvm", std::string(1, '\x40') +
                         "1 3:0.5 17:1 # a comment\n-1 qid:2 4:2.5e-1\n\n+1 9:1\t12:-3\n0 1:1");
  Put(dir, "criteo", std::string(1, '\x0b') +
                         "1\t3\tab\tcd\n0\t-2\t\tx\nbad\n1\t\tq\tr\n");
}

std::string Be32(uint32_t v) {
  const char b[4] = {char(v >> 24), char(v >> 16), char(v >> 8), char(v)};
  return std::string(b, 4);
}

std::string Gzip(const std::string& raw) {
  std::vector<unsigned char> out(compressBound(raw.size()) + 64);
  z_stream z{};
  deflateInit2(&z, 6, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY);  // 15+16: gzip wrapper
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(raw.data()));
  z.avail_in = raw.size();
  z.next_out = out.data();
  z.avail_out = out.size();
  deflate(&z, Z_FINISH);
  deflateEnd(&z);
  return std::string(reinterpret_cast<char*>(out.data()), z.total_out);
}

void IdxSeeds(const std::string& dir) {
  // Three 2x2 images and their labels.
  const std::string images = Be32(0x803) + Be32(3) + Be32(2) + Be32(2) +
                             std::string("\x00\x10\x80\xff\x01\x02\x03\x04\xfe\xfd\x00\x00", 12);
  const std::string labels = Be32(0x801) + Be32(3) + std::string("\x00\x09\x04", 3);
  Put(dir, "raw", JoinFrames({images, labels}));
  Put(dir, "gzip", JoinFrames({Gzip(images), Gzip(labels)}));
}

void SafetensorsSeeds(const std::string& dir) {
  const std::string tmp = dir + "/.tmp.safetensors";
  std::filesystem::create_directories(dir);
  if (!WriteSafetensors(tmp, {{"w", {2, 3}, {1, 2, 3, 4, 5, 6}}, {"b", {3}, {0.5f, -1, 0}}},
                        {{"format", "pt"}, {"epoch", "3"}})
           .ok())
    std::abort();
  std::ifstream in(tmp, std::ios::binary);
  Put(dir, "two-tensors", std::string(std::istreambuf_iterator<char>(in), {}));
  std::filesystem::remove(tmp);
}

void JobSeeds(const std::string& dir, const std::string& examples) {
  Put(dir, "default", JobSpecToToml(JobSpec{}));
  for (const auto& entry : std::filesystem::directory_iterator(examples)) {
    std::ifstream in(entry.path(), std::ios::binary);
    Put(dir, entry.path().filename().string(), std::string(std::istreambuf_iterator<char>(in), {}));
  }
}

void RecordSeeds(const std::string& dir) {
  // Operations (one byte each, see records_fuzzer.cc) and a body they read.
  const std::string ops = std::string("\x02\x02\x01\x05", 4) + char(6 | (2 << 3));
  std::string body(8 + 8 + 4, '\0');
  body[0] = 7;
  body[16] = 3;  // a string of 3 bytes follows
  body += "abc";
  body += std::string(8, '\x01');  // two floats
  Put(dir, "ops-and-body", JoinFrames({ops, body}));
  RecordEncoder e({{'P', 'S', 'T', 'B'}, 1});
  e.U64(5);
  e.Str("fingerprint");
  Put(dir, "framed-value", std::move(e).Finish());
}

}  // namespace
}  // namespace pst::fuzz

int main(int argc, char** argv) {
  if (argc != 2) {
    std::cerr << "usage: pst_fuzz_seeds DIR  (normally tests/fuzz/corpus)\n";
    return 2;
  }
  const std::string dir = argv[1];
  pst::fuzz::RequestSeeds(dir + "/envelope_fuzzer");
  pst::fuzz::RequestSeeds(dir + "/ps_request_fuzzer");
  pst::fuzz::IdxSeeds(dir + "/idx_fuzzer");
  pst::fuzz::SafetensorsSeeds(dir + "/safetensors_fuzzer");
  pst::fuzz::JobSeeds(dir + "/job_toml_fuzzer", std::string(PST_SOURCE_DIR) + "/examples");
  pst::fuzz::RecordSeeds(dir + "/records_fuzzer");
  pst::fuzz::SchedulerSeeds(dir + "/scheduler_request_fuzzer");
  pst::fuzz::SparseSeeds(dir + "/sparse_request_fuzzer");
  pst::fuzz::DataLineSeeds(dir + "/data_lines_fuzzer");
  std::cout << "seeds written to " << dir << "\n";
  return 0;
}
