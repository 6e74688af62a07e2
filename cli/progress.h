// Progress output for long operations: an in-place bar on a terminal, or a
// plain line every few seconds when the output is a file or CI log.
#pragma once

#include <chrono>
#include <ostream>
#include <string>

namespace pst {

struct ProgressSnapshot {
  uint32_t epoch = 0;   // 1-based epoch in progress
  uint32_t epochs = 0;
  double fraction = 0;  // of the whole job, in [0, 1]
  uint64_t steps = 0;   // 0 (or no speed yet): Update says the job is starting instead of figures
  double loss = 0;      // mean training loss over the last interval
  double samples_per_second = 0;
  double eta_seconds = -1;  // < 0 when unknown
  double test_accuracy = -1;  // of the last evaluated epoch; < 0 before the first
};

class ProgressPrinter {
 public:
  // bar: redraw one line in place (terminal); otherwise print a line at most
  // every `line_interval`. quiet prints nothing but Line()s.
  ProgressPrinter(std::ostream& out, bool bar, bool quiet,
                  std::chrono::seconds line_interval = std::chrono::seconds(5))
      : out_(out), bar_(bar), quiet_(quiet), line_interval_(line_interval) {}
  void Update(const ProgressSnapshot& p);
  // Prints a permanent line (clearing the bar first).
  void Line(const std::string& text);
  // Clears the bar.
  void Finish();

 private:
  std::ostream& out_;
  bool bar_;
  bool quiet_;
  std::chrono::seconds line_interval_;
  bool bar_shown_ = false;
  std::chrono::steady_clock::time_point last_line_{};
};

// "1:05" / "1:02:03".
std::string FormatDuration(double seconds);

}  // namespace pst
