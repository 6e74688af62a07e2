// pst::Mutex, pst::MutexLock and pst::CondVar: std::mutex and
// std::condition_variable with clang's thread-safety attributes, so that
// `-Wthread-safety` checks at compile time that every member marked
// GUARDED_BY(mu_) is only touched with mu_ held (libstdc++'s std::mutex
// carries no attributes). GCC ignores the attributes.
//
//   class Counter {
//    public:
//     void Add(int n) EXCLUDES(mu_) { MutexLock lock(&mu_); total_ += n; }
//    private:
//     Mutex mu_;
//     int total_ GUARDED_BY(mu_) = 0;
//   };
//
// Waiting: write the loop yourself, so the analysis sees the condition read
// under the lock (a predicate lambda is analysed out of context):
//   while (!ready_) cv_.Wait(&mu_);
//
// Thread-safety: Mutex and CondVar are thread-safe; MutexLock belongs to the
// thread that made it. Nothing here throws except on a broken system (the
// std:: calls' std::system_error), which we treat as fatal.
#pragma once

#include <chrono>
#include <condition_variable>
#include <mutex>

#if defined(__clang__)
#define PST_THREAD_ANNOTATION(x) __attribute__((x))
#else
#define PST_THREAD_ANNOTATION(x)
#endif

// The attribute names of clang's documentation ("Thread Safety Analysis").
#define CAPABILITY(x) PST_THREAD_ANNOTATION(capability(x))
#define SCOPED_CAPABILITY PST_THREAD_ANNOTATION(scoped_lockable)
#define GUARDED_BY(x) PST_THREAD_ANNOTATION(guarded_by(x))
#define PT_GUARDED_BY(x) PST_THREAD_ANNOTATION(pt_guarded_by(x))
#define ACQUIRED_BEFORE(...) PST_THREAD_ANNOTATION(acquired_before(__VA_ARGS__))
#define ACQUIRED_AFTER(...) PST_THREAD_ANNOTATION(acquired_after(__VA_ARGS__))
#define REQUIRES(...) PST_THREAD_ANNOTATION(requires_capability(__VA_ARGS__))
#define ACQUIRE(...) PST_THREAD_ANNOTATION(acquire_capability(__VA_ARGS__))
#define RELEASE(...) PST_THREAD_ANNOTATION(release_capability(__VA_ARGS__))
#define TRY_ACQUIRE(...) PST_THREAD_ANNOTATION(try_acquire_capability(__VA_ARGS__))
#define EXCLUDES(...) PST_THREAD_ANNOTATION(locks_excluded(__VA_ARGS__))
#define ASSERT_CAPABILITY(x) PST_THREAD_ANNOTATION(assert_capability(x))
#define RETURN_CAPABILITY(x) PST_THREAD_ANNOTATION(lock_returned(x))
#define NO_THREAD_SAFETY_ANALYSIS PST_THREAD_ANNOTATION(no_thread_safety_analysis)

namespace pst {

class CondVar;

// A non-recursive mutex (std::mutex).
class CAPABILITY("mutex") Mutex {
 public:
  Mutex() = default;
  Mutex(const Mutex&) = delete;
  Mutex& operator=(const Mutex&) = delete;

  void Lock() ACQUIRE() { mu_.lock(); }
  void Unlock() RELEASE() { mu_.unlock(); }
  bool TryLock() TRY_ACQUIRE(true) { return mu_.try_lock(); }
  // Tells the analysis that the caller holds the lock (it cannot check this
  // at run time: std::mutex does not know its owner).
  void AssertHeld() const ASSERT_CAPABILITY(this) {}

 private:
  friend class CondVar;
  std::mutex mu_;
};

// Holds `mu` for its lifetime.
class SCOPED_CAPABILITY MutexLock {
 public:
  explicit MutexLock(Mutex* mu) ACQUIRE(mu) : mu_(mu) { mu_->Lock(); }
  ~MutexLock() RELEASE() { mu_->Unlock(); }
  MutexLock(const MutexLock&) = delete;
  MutexLock& operator=(const MutexLock&) = delete;

 private:
  Mutex* const mu_;
};

// A condition variable used with a pst::Mutex. Wakeups may be spurious:
// always wait in a loop that re-reads the condition.
class CondVar {
 public:
  CondVar() = default;
  CondVar(const CondVar&) = delete;
  CondVar& operator=(const CondVar&) = delete;

  // Releases `mu`, blocks until signalled (or spuriously woken), then holds
  // `mu` again. REQUIRES: mu held by the caller.
  void Wait(Mutex* mu) REQUIRES(mu) {
    std::unique_lock<std::mutex> lock(mu->mu_, std::adopt_lock);
    cv_.wait(lock);
    lock.release();  // the caller keeps holding it
  }
  // As Wait, but returns false once `deadline` has passed.
  bool WaitUntil(Mutex* mu, std::chrono::steady_clock::time_point deadline) REQUIRES(mu) {
    std::unique_lock<std::mutex> lock(mu->mu_, std::adopt_lock);
    const bool signalled = cv_.wait_until(lock, deadline) == std::cv_status::no_timeout;
    lock.release();
    return signalled;
  }
  void Signal() { cv_.notify_one(); }
  void SignalAll() { cv_.notify_all(); }

 private:
  std::condition_variable cv_;
};

}  // namespace pst
