// pst::Mutex / MutexLock / CondVar: mutual exclusion, waits that end by a
// signal or a deadline. That clang's analysis rejects an unguarded access is
// the ctest "thread-safety: an unguarded access is a compile error" (clang
// builds only), which compiles tests/common/thread_safety_violation.cc.
#include "common/mutex.h"

#include <catch2/catch.hpp>
#include <chrono>
#include <future>
#include <thread>
#include <vector>

namespace pst {
namespace {

using namespace std::chrono_literals;

class Counter {
 public:
  void Add() EXCLUDES(mu_) {
    MutexLock lock(&mu_);
    // Read, yield, write: without the lock, increments from other threads
    // would be lost between the read and the write.
    const int v = value_;
    std::this_thread::yield();
    value_ = v + 1;
  }
  int value() EXCLUDES(mu_) {
    MutexLock lock(&mu_);
    return value_;
  }

 private:
  Mutex mu_;
  int value_ GUARDED_BY(mu_) = 0;
};

// Whether another thread can take `mu` now (it lets go at once if so).
bool TryLockElsewhere(Mutex& mu) {
  return std::async(std::launch::async, [&mu] {
           if (!mu.TryLock()) return false;
           mu.Unlock();
           return true;
         })
      .get();
}

TEST_CASE("Mutex: MutexLock excludes other threads", "[common]") {
  Counter c;
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&c] {
      for (int i = 0; i < 2000; ++i) c.Add();
    });
  for (auto& t : threads) t.join();
  CHECK(c.value() == 8000);
}

TEST_CASE("Mutex: TryLock fails while another thread holds it", "[common]") {
  Mutex mu;
  mu.Lock();
  CHECK_FALSE(TryLockElsewhere(mu));
  mu.Unlock();
  bool got = false;
  if (mu.TryLock()) {
    got = true;
    mu.Unlock();
  }
  CHECK(got);
}

TEST_CASE("CondVar: Wait returns once signalled, with the lock held", "[common]") {
  Mutex mu;
  CondVar cv;
  bool ready = false;  // guarded by mu
  std::thread signaller([&] {
    MutexLock lock(&mu);
    ready = true;
    cv.SignalAll();
  });
  {
    MutexLock lock(&mu);
    while (!ready) cv.Wait(&mu);
    CHECK(ready);
    // Held: another thread cannot take it now.
    CHECK_FALSE(TryLockElsewhere(mu));
  }
  signaller.join();
}

TEST_CASE("CondVar: WaitUntil returns false at the deadline", "[common]") {
  Mutex mu;
  CondVar cv;
  MutexLock lock(&mu);
  const auto deadline = std::chrono::steady_clock::now() + 20ms;
  bool signalled = true;
  // Spurious wakeups may return true early; the deadline ends the loop.
  while (signalled) signalled = cv.WaitUntil(&mu, deadline);
  CHECK(std::chrono::steady_clock::now() >= deadline);
}

}  // namespace
}  // namespace pst
