#include "workloads/resp/resp_parser.h"

#include <fmt/format.h>

#include <algorithm>
#include <utility>

#include "io/assert.h"

namespace keel::resp {

namespace {

// A `*<count>\r\n` or `$<size>\r\n` line is at most 22 bytes when valid (an 18-digit length
// is the longest we read). Looking no further than this many bytes for its end bounds the work
// and the memory a client can spend on a length, and fails a line that cannot end well as soon
// as that many bytes are in, whatever the split.
constexpr size_t length_line_size_bytes_max = 32;

// An idle parser keeps a buffer of at most this capacity: one large request must not pin its
// memory for the rest of the connection.
constexpr size_t idle_capacity_bytes_max = 16 * 1024;

// Argument strings kept for the next request, and the capacity each may keep: enough for the
// keys and values of a pipeline of ordinary commands, little enough that a connection which once
// sent large or many arguments does not hold their memory (at most 64 KiB of it).
constexpr size_t args_kept_max = 64;
constexpr size_t arg_capacity_bytes_kept_max = 1024;

// Redis's string2ll rules: an optional '-', then "0" or digits without a leading zero; no '+',
// no spaces, no "-0". At most 18 digits, so the value fits an int64_t without overflow checks;
// a longer length is beyond any limit anyway.
bool parse_length(std::string_view text, int64_t& length) {
  const bool negative = !text.empty() && text[0] == '-';
  if (negative) text.remove_prefix(1);
  if (text.empty() || text.size() > 18) return false;
  if (text[0] == '0' && (text.size() > 1 || negative)) return false;
  int64_t value = 0;
  for (const char c : text) {
    if (c < '0' || c > '9') return false;
    value = value * 10 + (c - '0');
  }
  length = negative ? -value : value;
  return true;
}

// Redis formats the byte with %c; a control byte is shown escaped instead, so that the message
// stays one readable line.
std::string printable(char c) {
  if (c >= 0x20 && c <= 0x7e) return std::string(1, c);
  return fmt::format("\\x{:02x}", static_cast<unsigned char>(c));
}

bool is_blank(char c) {
  return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\v' || c == '\f';
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Appends the escape at line[i] (a backslash with a byte after it) inside double quotes, and
// returns the bytes it took: \xHH, \n \r \t \b \a, else the escaped byte itself (\" and \\).
size_t append_escape(std::string_view line, size_t i, std::string& word) {
  KEEL_ASSERT(line[i] == '\\' && i + 1 < line.size());
  const char c = line[i + 1];
  if (c == 'x' && i + 3 < line.size() && hex_value(line[i + 2]) >= 0 &&
      hex_value(line[i + 3]) >= 0) {
    word.push_back(static_cast<char>(hex_value(line[i + 2]) * 16 + hex_value(line[i + 3])));
    return 4;
  }
  switch (c) {
    case 'n':
      word.push_back('\n');
      break;
    case 'r':
      word.push_back('\r');
      break;
    case 't':
      word.push_back('\t');
      break;
    case 'b':
      word.push_back('\b');
      break;
    case 'a':
      word.push_back('\a');
      break;
    default:
      word.push_back(c);
      break;
  }
  return 2;
}

enum class Quote : uint8_t { none, double_quote, single_quote };

// Reads the word starting at line[i] into word and moves i past it. False if a quote is left
// open, or a closing quote is followed by anything but a blank (as sdssplitargs: `"a"b` is
// an error, not `ab`).
bool read_word(std::string_view line, size_t& i, std::string& word) {
  Quote quote = Quote::none;
  while (i < line.size()) {
    const char c = line[i];
    if (quote == Quote::none) {
      if (is_blank(c)) return true;
      if (c == '"') {
        quote = Quote::double_quote;
      } else if (c == '\'') {
        quote = Quote::single_quote;
      } else {
        word.push_back(c);
      }
      i++;
    } else if (c == (quote == Quote::double_quote ? '"' : '\'')) {
      i++;
      return i == line.size() || is_blank(line[i]);
    } else if (c == '\\' && quote == Quote::double_quote && i + 1 < line.size()) {
      i += append_escape(line, i, word);
    } else if (c == '\\' && quote == Quote::single_quote && i + 1 < line.size() &&
               line[i + 1] == '\'') {
      word.push_back('\'');
      i += 2;
    } else {
      word.push_back(c);
      i++;
    }
  }
  return quote == Quote::none;
}

// Splits an inline request line into words like Redis's sdssplitargs. Returns the error, or
// nullptr.
const char* split_inline(std::string_view line, uint64_t words_max,
                         std::vector<std::string>& words) {
  size_t i = 0;
  while (true) {
    while (i < line.size() && is_blank(line[i])) i++;
    if (i == line.size()) return nullptr;
    std::string word;
    if (!read_word(line, i, word)) return "unbalanced quotes in request";
    if (words.size() == words_max) return "too many arguments in inline request";
    words.push_back(std::move(word));
  }
}

}  // namespace

bool request_within_limits(std::span<const std::string> args, const RespLimits& limits) {
  uint64_t size_bytes = 0;
  for (const std::string& arg : args) {
    if (arg.size() > limits.bulk_size_bytes_max) return false;
    size_bytes += arg.size();
  }
  return !args.empty() && args.size() <= limits.args_max &&
         size_bytes <= limits.request_size_bytes_max;
}

RespParser::RespParser(const RespLimits& limits) : limits_(limits) {
  KEEL_ASSERT(limits_.bulk_size_bytes_max > 0);
  KEEL_ASSERT(limits_.args_max > 0);
  KEEL_ASSERT(limits_.inline_size_bytes_max > 0);
  // An inline word is never longer than its line: these keep inline requests within the limits
  // that multibulk requests are held to.
  KEEL_ASSERT(limits_.inline_size_bytes_max <= limits_.bulk_size_bytes_max);
  KEEL_ASSERT(limits_.inline_size_bytes_max <= limits_.request_size_bytes_max);
  // Room for the rest of any unfinished request: a bulk string and its CRLF, an inline line
  // and its '\n', a length line.
  KEEL_ASSERT(limits_.buffered_size_bytes_max >= limits_.bulk_size_bytes_max + 2);
  KEEL_ASSERT(limits_.buffered_size_bytes_max >= limits_.inline_size_bytes_max + 1);
  KEEL_ASSERT(limits_.buffered_size_bytes_max >= length_line_size_bytes_max);
}

uint64_t RespParser::feed_size_bytes_max() const {
  KEEL_ASSERT(buffered_size_bytes() <= limits_.buffered_size_bytes_max);
  return limits_.buffered_size_bytes_max - buffered_size_bytes();
}

void RespParser::feed(std::string_view bytes) {
  KEEL_ASSERT(bytes.size() <= feed_size_bytes_max());
  if (state_ == State::failed) return;
  compact();
  const size_t size_needed = buffer_.size() + bytes.size();
  if (size_needed > buffer_.capacity()) {
    // Doubling, as std::vector would, but never past the limit: reserve() allocates exactly.
    buffer_.reserve(std::min<uint64_t>(std::max(size_needed, 2 * buffer_.capacity()),
                                       limits_.buffered_size_bytes_max));
  }
  buffer_.insert(buffer_.end(), bytes.begin(), bytes.end());
  KEEL_ASSERT(buffer_.capacity() <= limits_.buffered_size_bytes_max);
}

RespParser::Status RespParser::next() {
  release_request();
  // Each step either consumes bytes or returns, so the loop is bounded by the bytes held.
  const uint64_t buffered_at_start = buffered_size_bytes();
  for (uint64_t steps_consumed = 0;; steps_consumed++) {
    KEEL_ASSERT(steps_consumed <= buffered_at_start);
    switch (step()) {
      case Step::consumed:
        continue;
      case Step::complete:
        complete_ = true;
        KEEL_ASSERT(request_within_limits(args(), limits_));
        return Status::complete;
      case Step::need_more:
        compact();
        return Status::need_more;
      case Step::failed:
        KEEL_ASSERT(!error_.empty() && args_size_ == 0);
        return Status::error;
    }
  }
}

// The request next() returned last is done with: its strings wait for the next one.
void RespParser::release_request() {
  if (!complete_) return;
  complete_ = false;
  args_size_ = 0;
  if (args_.size() > args_kept_max) args_.resize(args_kept_max);
}

void RespParser::store_arg(std::string_view bytes) {
  KEEL_ASSERT(!complete_ && args_size_ <= args_.size());
  if (args_size_ == args_.size()) args_.emplace_back();
  std::string& arg = args_[args_size_++];
  if (arg.capacity() > arg_capacity_bytes_kept_max && bytes.size() <= arg_capacity_bytes_kept_max) {
    std::string().swap(arg);  // Gives back what an earlier, larger argument took.
  }
  arg.assign(bytes);
}

RespParser::Step RespParser::step() {
  switch (state_) {
    case State::request_start:
      if (buffered_size_bytes() == 0) return Step::need_more;
      return unparsed()[0] == '*' ? parse_multibulk_length() : parse_inline();
    case State::bulk_length:
      return parse_bulk_length();
    case State::bulk_body:
      return parse_bulk_body();
    case State::failed:
      return Step::failed;
  }
  KEEL_ASSERT(false);
}

RespParser::Step RespParser::parse_inline() {
  const std::string_view unparsed = this->unparsed();
  KEEL_ASSERT(inline_scanned_size_bytes_ <= unparsed.size());
  const size_t newline = unparsed.find('\n', inline_scanned_size_bytes_);
  // The limit is on the line, whether or not its end is in yet, so that the outcome does not
  // depend on the split (Redis checks only while the '\n' is missing).
  const size_t line_size = newline == std::string_view::npos ? unparsed.size() : newline;
  if (line_size > limits_.inline_size_bytes_max) return fail("too big inline request");
  if (newline == std::string_view::npos) {
    inline_scanned_size_bytes_ = unparsed.size();
    return Step::need_more;
  }
  std::string_view line = unparsed.substr(0, newline);
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  std::vector<std::string> words;
  if (const char* error = split_inline(line, limits_.args_max, words)) return fail(error);
  consume(newline + 1);
  inline_scanned_size_bytes_ = 0;
  if (words.empty()) return Step::consumed;  // An empty line, skipped as in Redis.
  KEEL_ASSERT(args_size_ == 0);
  for (const std::string& word : words) store_arg(word);
  return Step::complete;
}

RespParser::Step RespParser::parse_multibulk_length() {
  int64_t count = 0;
  const Step step = read_length_line(count, "invalid multibulk length");
  if (step != Step::consumed) return step;
  if (count <= 0) return Step::consumed;  // `*0` and `*-1`: Redis runs nothing.
  if (static_cast<uint64_t>(count) > limits_.args_max) return fail("invalid multibulk length");
  KEEL_ASSERT(args_size_ == 0);
  args_expected_ = static_cast<uint64_t>(count);
  request_size_bytes_ = 0;
  state_ = State::bulk_length;
  return Step::consumed;
}

RespParser::Step RespParser::parse_bulk_length() {
  const std::string_view unparsed = this->unparsed();
  if (unparsed.empty()) return Step::need_more;
  if (unparsed[0] != '$')
    return fail(fmt::format("expected '$', got '{}'", printable(unparsed[0])));
  int64_t size = 0;
  const Step step = read_length_line(size, "invalid bulk length");
  if (step != Step::consumed) return step;
  if (size < 0) return fail("invalid bulk length");
  const uint64_t size_bytes = static_cast<uint64_t>(size);
  if (size_bytes > limits_.bulk_size_bytes_max) {
    return fail(
        fmt::format("bulk string over the maximum of {} bytes", limits_.bulk_size_bytes_max));
  }
  if (request_size_bytes_ + size_bytes > limits_.request_size_bytes_max) {
    return fail(
        fmt::format("request over the maximum of {} bytes", limits_.request_size_bytes_max));
  }
  bulk_size_bytes_ = size_bytes;
  state_ = State::bulk_body;
  return Step::consumed;
}

RespParser::Step RespParser::parse_bulk_body() {
  const std::string_view unparsed = this->unparsed();
  if (unparsed.size() < bulk_size_bytes_ + 2) return Step::need_more;
  // Redis skips the two bytes unread; a client that gets them wrong is misframing the stream,
  // and everything after would be misread.
  if (unparsed.substr(bulk_size_bytes_, 2) != "\r\n")
    return fail("expected CRLF after bulk string");
  store_arg(unparsed.substr(0, bulk_size_bytes_));
  request_size_bytes_ += bulk_size_bytes_;
  consume(bulk_size_bytes_ + 2);
  if (args_size_ < args_expected_) {
    state_ = State::bulk_length;
    return Step::consumed;
  }
  state_ = State::request_start;
  return Step::complete;
}

// Reads a `*<n>\r\n` or `$<n>\r\n` line (the caller has seen its first byte).
RespParser::Step RespParser::read_length_line(int64_t& length, const char* error) {
  const std::string_view line = unparsed().substr(0, length_line_size_bytes_max);
  const size_t cr = line.find('\r');
  if (cr == std::string_view::npos || cr + 1 == line.size()) {
    return line.size() == length_line_size_bytes_max ? fail(error) : Step::need_more;
  }
  if (line[cr + 1] != '\n' || !parse_length(line.substr(1, cr - 1), length)) return fail(error);
  consume(cr + 2);
  return Step::consumed;
}

RespParser::Step RespParser::fail(std::string error) {
  state_ = State::failed;
  error_ = std::move(error);
  KEEL_ASSERT(!error_.empty());
  args_.clear();
  args_size_ = 0;
  buffer_.clear();
  consumed_size_bytes_ = 0;
  return Step::failed;
}

std::string_view RespParser::unparsed() const {
  return std::string_view(buffer_.data() + consumed_size_bytes_, buffered_size_bytes());
}

void RespParser::consume(size_t size_bytes) {
  KEEL_ASSERT(size_bytes > 0 && size_bytes <= buffered_size_bytes());
  consumed_size_bytes_ += size_bytes;
}

void RespParser::compact() {
  buffer_.erase(buffer_.begin(), buffer_.begin() + static_cast<ptrdiff_t>(consumed_size_bytes_));
  consumed_size_bytes_ = 0;
  if (buffer_.empty() && buffer_.capacity() > idle_capacity_bytes_max) {
    std::vector<char>().swap(buffer_);
  }
}

}  // namespace keel::resp
