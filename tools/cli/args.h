#pragma once
// Command-line parsing shared by the keel subcommands. A bad flag or value is a UsageError: the
// caller prints one line and the usage, and exits with code 2.

#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace keel::cli {

inline constexpr int exit_usage = 2;

struct UsageError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// Walks "--flag value" and "--flag=value" arguments.
class ArgReader {
 public:
  explicit ArgReader(std::vector<std::string> args) : args_(std::move(args)) {}
  bool done() const { return index_ >= args_.size(); }
  // The next argument; if it is "--name=value", the name part only.
  std::string next();
  // The value of the flag just read; never empty.
  std::string value(std::string_view flag);
  // For an on/off flag just read: rejects "--flag=value".
  void no_value(std::string_view flag);

 private:
  std::vector<std::string> args_;
  size_t index_ = 0;
  std::optional<std::string> inline_value_;
};

// The world refused something (a file, a child process): one line, exit code 2.
struct EnvironmentError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

uint64_t parse_u64(std::string_view flag, std::string_view text, uint64_t min, uint64_t max);

}  // namespace keel::cli
