#include "cli/logging.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <spdlog/pattern_formatter.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include <charconv>
#include <cstdlib>
#include <string_view>

namespace xdpgw::cli {
namespace {

// "%*": the sd-daemon(3) priority prefix of the message's level.
class SyslogPriority final : public spdlog::custom_flag_formatter {
 public:
  void format(const spdlog::details::log_msg& msg, const std::tm&,
              spdlog::memory_buf_t& dest) override {
    const std::string_view prefix = [&] {
      switch (msg.level) {
        case spdlog::level::critical: return "<2>";
        case spdlog::level::err: return "<3>";
        case spdlog::level::warn: return "<4>";
        case spdlog::level::info: return "<6>";
        default: return "<7>";  // debug, trace
      }
    }();
    dest.append(prefix.data(), prefix.data() + prefix.size());
  }
  std::unique_ptr<custom_flag_formatter> clone() const override {
    return std::make_unique<SyslogPriority>();
  }
};

}  // namespace

bool stderr_is_journal() {
  // getenv: read once at start, before any thread exists.
  const char* env = std::getenv("JOURNAL_STREAM");  // NOLINT(concurrency-mt-unsafe)
  if (env == nullptr) return false;
  const std::string_view text(env);
  const auto colon = text.find(':');
  if (colon == std::string_view::npos) return false;
  unsigned long long dev = 0, ino = 0;
  const char* end = text.data() + text.size();
  if (std::from_chars(text.data(), text.data() + colon, dev).ec != std::errc{} ||
      std::from_chars(text.data() + colon + 1, end, ino).ec != std::errc{})
    return false;
  struct stat st {};
  if (fstat(STDERR_FILENO, &st) != 0) return false;
  return st.st_dev == dev && st.st_ino == ino;
}

std::shared_ptr<spdlog::logger> make_logger() {
  auto logger = spdlog::stderr_logger_mt("xdpgw");
  if (stderr_is_journal()) {
    auto formatter = std::make_unique<spdlog::pattern_formatter>();
    formatter->add_flag<SyslogPriority>('*').set_pattern("%*%v");
    logger->set_formatter(std::move(formatter));
  } else {
    // No colour codes: the same text in a terminal and in a file.
    logger->set_pattern("%Y-%m-%dT%H:%M:%S.%e %l %v");
  }
  return logger;
}

}  // namespace xdpgw::cli
