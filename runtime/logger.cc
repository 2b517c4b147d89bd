#include "runtime/logger.h"

#include <fmt/format.h>
#include <time.h>

#include <cerrno>
#include <cstring>

namespace keel::runtime {

namespace {

// RFC 3339 in UTC with milliseconds: log lines from several replicas sort together.
std::string timestamp_now() {
  timespec now{};
  clock_gettime(CLOCK_REALTIME, &now);
  tm utc{};
  gmtime_r(&now.tv_sec, &utc);
  return fmt::format("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z", utc.tm_year + 1900,
                     utc.tm_mon + 1, utc.tm_mday, utc.tm_hour, utc.tm_min, utc.tm_sec,
                     now.tv_nsec / 1'000'000);
}

std::string json_escaped(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (const char c : text) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (static_cast<unsigned char>(c) < 0x20) {
      out += fmt::format("\\u{:04x}", static_cast<unsigned>(c));
    } else {
      out += c;
    }
  }
  return out;
}

}  // namespace

const char* log_level_name(LogLevel level) {
  switch (level) {
    case LogLevel::trace:
      return "trace";
    case LogLevel::debug:
      return "debug";
    case LogLevel::info:
      return "info";
    case LogLevel::warn:
      return "warn";
    case LogLevel::error:
      return "error";
  }
  return "unknown";
}

Logger::~Logger() {
  if (owned_) std::fclose(out_);
}

std::string Logger::open(LogLevel level, LogFormat format, const std::string& path) {
  std::FILE* out = stdout;
  if (!path.empty()) {
    out = std::fopen(path.c_str(), "a");
    if (out == nullptr) return "cannot open log file " + path + ": " + std::strerror(errno);
  }
  if (owned_) std::fclose(out_);
  out_ = out;
  owned_ = !path.empty();
  level_ = level;
  format_ = format;
  return "";
}

void Logger::log(LogLevel level, std::string_view message) {
  if (!enabled(level)) return;
  const std::string time = timestamp_now();
  if (format_ == LogFormat::json) {
    const std::string replica =
        replica_ >= 0 ? fmt::format(",\"replica\":{}", replica_) : std::string();
    fmt::print(out_, "{{\"ts\":\"{}\",\"level\":\"{}\"{},\"msg\":\"{}\"}}\n", time,
               log_level_name(level), replica, json_escaped(message));
  } else {
    const std::string replica = replica_ >= 0 ? fmt::format(" r{}", replica_) : std::string();
    fmt::print(out_, "{} {:<5}{} {}\n", time, log_level_name(level), replica, message);
  }
  // Lines reach the file now: the log is read when something went wrong, often after a crash.
  std::fflush(out_);
  // Errors also reach the operator's terminal when the log goes to a file.
  if (owned_ && level == LogLevel::error) fmt::print(stderr, "keel: {}\n", message);
}

}  // namespace keel::runtime
