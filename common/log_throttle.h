// pst::LogThrottle: bounds the log lines of one kind of repeated event that a
// peer can cause at will (a refused connection, a request over a limit, a
// malformed message), so a hostile client cannot fill the log. The first
// `burst` events are logged one line each; after that at most one per
// `interval`, and that line says how many were left out since the previous
// one. So a flood of any length costs burst + (its duration / interval) lines,
// and the count of every event still reaches the log.
//
// Not thread-safe: one thread notes the events of one throttle.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

#include "common/status.h"

namespace pst {

class LogThrottle {
 public:
  using Clock = std::chrono::steady_clock;
  struct Options {
    uint32_t burst = 10;                        // events logged one by one first
    std::chrono::milliseconds interval{10000};  // then at most one line per interval
  };

  LogThrottle() : LogThrottle(Options{}) {}
  explicit LogThrottle(Options options) : options_(options) {}

  // Notes one event at `now`. True if it is to be logged; then `*more` is
  // what to append to its line: "" while every event is logged, else
  // " (N more like it since the last such line, not logged)".
  bool Note(Clock::time_point now, std::string* more);
  // Events noted so far.
  uint64_t noted() const { return noted_; }

 private:
  Options options_;
  uint64_t noted_ = 0;
  uint64_t left_out_ = 0;  // since the last logged event
  Clock::time_point last_logged_;
};

// The log of the requests a server refuses before decoding them (over a
// limit) or cannot decode (malformed: kInvalidArgument), one throttle for
// each of the two kinds. Not thread-safe, like LogThrottle.
class RefusedMessageLog {
 public:
  // Logs (a warning) that a message was refused with `s` (not OK), unless the
  // throttle of its kind leaves it out.
  void Log(const Status& s);

 private:
  LogThrottle malformed_;
  LogThrottle refused_;
};

}  // namespace pst
