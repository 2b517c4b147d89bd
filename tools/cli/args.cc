#include "tools/cli/args.h"

#include <fmt/format.h>

#include <charconv>

namespace keel::cli {

std::string ArgReader::next() {
  if (inline_value_) throw UsageError(fmt::format("unexpected value '{}'", *inline_value_));
  std::string arg = args_[index_++];
  const size_t equals = arg.find('=');
  if (arg.starts_with("--") && equals != std::string::npos) {
    inline_value_ = arg.substr(equals + 1);
    arg.resize(equals);
  }
  return arg;
}

std::string ArgReader::value(std::string_view flag) {
  std::string value;
  if (inline_value_) {
    value = std::move(*inline_value_);
    inline_value_.reset();
  } else if (index_ < args_.size()) {
    value = args_[index_++];
  }
  if (value.empty()) throw UsageError(fmt::format("{} needs a value", flag));
  return value;
}

void ArgReader::no_value(std::string_view flag) {
  if (inline_value_) throw UsageError(fmt::format("{} takes no value", flag));
}

uint64_t parse_u64(std::string_view flag, std::string_view text, uint64_t min, uint64_t max) {
  uint64_t value = 0;
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (text.empty() || error != std::errc() || end != text.data() + text.size()) {
    throw UsageError(fmt::format("{}: '{}' is not a non-negative integer", flag, text));
  }
  if (value < min || value > max) {
    throw UsageError(fmt::format("{}: {} is out of range [{}, {}]", flag, value, min, max));
  }
  return value;
}

}  // namespace keel::cli
