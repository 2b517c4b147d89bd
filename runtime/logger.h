#pragma once
// The runtime's log, as the VSR deployment guide configures it ([logging]): a level (trace ..
// error), a format (json: one object a line, for collectors; pretty: for people) and an output
// (stdout or a file, appended to). With a file, error lines go to stderr as well.

#include <cstdint>
#include <cstdio>
#include <string>
#include <string_view>

namespace keel::runtime {

enum class LogLevel : uint8_t { trace, debug, info, warn, error };
enum class LogFormat : uint8_t { pretty, json };
const char* log_level_name(LogLevel level);

class Logger {
 public:
  // Logs to stderr until open() succeeds: start-up errors must reach the operator.
  Logger() = default;
  ~Logger();
  Logger(const Logger&) = delete;
  Logger& operator=(const Logger&) = delete;

  // path empty: stdout. Returns an empty string or why the file cannot be opened.
  std::string open(LogLevel level, LogFormat format, const std::string& path);
  bool enabled(LogLevel level) const { return level >= level_; }
  void log(LogLevel level, std::string_view message);

  void trace(std::string_view message) { log(LogLevel::trace, message); }
  void debug(std::string_view message) { log(LogLevel::debug, message); }
  void info(std::string_view message) { log(LogLevel::info, message); }
  void warn(std::string_view message) { log(LogLevel::warn, message); }
  void error(std::string_view message) { log(LogLevel::error, message); }

  // Fields every line carries (the replica's index), as "key=value" in pretty lines and as JSON
  // members.
  void set_replica(uint32_t replica) { replica_ = replica; }

 private:
  LogLevel level_ = LogLevel::info;
  LogFormat format_ = LogFormat::pretty;
  std::FILE* out_ = stderr;
  bool owned_ = false;
  int64_t replica_ = -1;
};

}  // namespace keel::runtime
