#include "common/log_throttle.h"

#include "common/log.h"

namespace pst {

bool LogThrottle::Note(Clock::time_point now, std::string* more) {
  ++noted_;
  const bool log = noted_ <= options_.burst || now - last_logged_ >= options_.interval;
  if (!log) {
    ++left_out_;
    return false;
  }
  *more = left_out_ == 0 ? std::string()
                         : " (" + std::to_string(left_out_) +
                               " more like it since the last such line, not logged)";
  left_out_ = 0;
  last_logged_ = now;
  return true;
}

void RefusedMessageLog::Log(const Status& s) {
  const bool malformed = s.code() == StatusCode::kInvalidArgument;
  std::string more;
  if ((malformed ? malformed_ : refused_).Note(LogThrottle::Clock::now(), &more))
    PST_LOG_WARN("{} message: {}{}", malformed ? "malformed" : "refused", s.message(), more);
}

}  // namespace pst
