#include "cli/progress.h"

#include <algorithm>
#include <cmath>

#include <fmt/format.h>

namespace pst {

std::string FormatDuration(double seconds) {
  if (!(seconds >= 0) || !std::isfinite(seconds)) return "?";
  const long s = std::lround(seconds);
  if (s >= 3600) return fmt::format("{}:{:02}:{:02}", s / 3600, (s / 60) % 60, s % 60);
  return fmt::format("{}:{:02}", s / 60, s % 60);
}

void ProgressPrinter::Update(const ProgressSnapshot& p) {
  if (quiet_) return;
  // Before the first step, and until the first second of steps is measured,
  // there is no loss, speed or eta to show yet.
  const std::string stats =
      p.steps == 0 ? fmt::format("epoch {}/{}  starting: the workers are loading their data", p.epoch, p.epochs)
      : p.samples_per_second <= 0
          ? fmt::format("epoch {}/{}  starting: step {}, loss and speed after the first second", p.epoch,
                        p.epochs, p.steps)
          : fmt::format("epoch {}/{}  step {}  loss {:.4f}  acc {}  {:.0f} samples/s  eta {}", p.epoch,
                                 p.epochs, p.steps, p.loss,
                                 p.test_accuracy < 0 ? "-" : fmt::format("{:.4f}", p.test_accuracy),
                                 p.samples_per_second, p.eta_seconds < 0 ? "?" : FormatDuration(p.eta_seconds));
  if (bar_) {
    constexpr int kWidth = 24;
    const int filled = static_cast<int>(std::lround(std::clamp(p.fraction, 0.0, 1.0) * kWidth));
    out_ << "\r\033[K[" << std::string(filled, '#') << std::string(kWidth - filled, '-') << "] "
         << fmt::format("{:3.0f}%  ", p.fraction * 100) << stats << std::flush;
    bar_shown_ = true;
    return;
  }
  const auto now = std::chrono::steady_clock::now();
  if (now - last_line_ < line_interval_) return;
  last_line_ = now;
  out_ << fmt::format("progress {:5.1f}%  ", p.fraction * 100) << stats << "\n" << std::flush;
}

void ProgressPrinter::Line(const std::string& text) {
  if (bar_shown_) out_ << "\r\033[K";
  bar_shown_ = false;
  out_ << text << "\n" << std::flush;
}

void ProgressPrinter::Finish() {
  if (bar_shown_) out_ << "\r\033[K" << std::flush;
  bar_shown_ = false;
}

}  // namespace pst
