#pragma once
// An incremental parser for RESP2 requests, the Redis wire protocol, as a connection handler
// receives them: multibulk (`*2\r\n$3\r\nGET\r\n$1\r\nk\r\n`, what redis-cli, redis-benchmark
// and client libraries send) and inline (`GET k\r\n`, what a person types into telnet).
//
// Pure and deterministic: the requests and errors a byte stream gives do not depend on how it
// was split into feed() calls. Memory is bounded by RespLimits, never by what a client claims.
//
// A connection handler reads at most feed_size_bytes_max() bytes, feeds them, and then calls
// next() until it returns need_more (read again) or error (reply "-ERR Protocol error: " and
// error(), then close: the parser stays in error, since the stream can no longer be framed).
// A complete request's arguments are in args() until the next call of next(): the parser keeps
// their strings and reuses them, so a pipeline of small requests costs no allocation each.

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace keel::resp {

struct RespLimits {
  // The longest bulk string, so the longest argument (Redis: 512 MiB).
  uint64_t bulk_size_bytes_max = 1024 * 1024;
  // The most arguments in one request (Redis: 1024 * 1024).
  uint64_t args_max = 4096;
  // The longest inline request line, up to its '\n' (Redis: 64 KiB).
  uint64_t inline_size_bytes_max = 64 * 1024;
  // The most argument bytes in one request: without it a request could hold args_max bulk
  // strings of bulk_size_bytes_max each, 4 GiB by default.
  uint64_t request_size_bytes_max = 8 * 1024 * 1024;
  // The most unparsed bytes held. At least bulk_size_bytes_max + 2 and inline_size_bytes_max + 1,
  // so that an unfinished request always leaves room to feed the rest of it.
  uint64_t buffered_size_bytes_max = 1024 * 1024 + 64 * 1024;
};

// Whether a request is one the parser may return: 1 to args_max arguments, each at most
// bulk_size_bytes_max, together at most request_size_bytes_max.
bool request_within_limits(std::span<const std::string> args, const RespLimits& limits);

class RespParser {
 public:
  enum class Status : uint8_t {
    complete,   // args() holds a request: at least one argument.
    need_more,  // Feed more bytes.
    error,      // error() says why; every later next() says the same.
  };

  explicit RespParser(const RespLimits& limits);

  // The most bytes the next feed() may take: the buffered-bytes limit less what is held.
  uint64_t feed_size_bytes_max() const;

  // Appends bytes to those not yet parsed; at most feed_size_bytes_max(). Dropped after an
  // error.
  void feed(std::string_view bytes);

  // Whether a complete request is in args(), or more bytes are needed, or the stream is in
  // error. Empty requests (`*0`, `*-1`, an empty or blank inline line) yield nothing, as in Redis.
  Status next();

  // After next() said complete, the request's arguments; empty otherwise.
  std::span<const std::string> args() const {
    return complete_ ? std::span<const std::string>(args_.data(), args_size_)
                     : std::span<const std::string>();
  }
  // After next() said error, why; empty otherwise.
  const std::string& error() const { return error_; }

  // The bytes fed and not yet consumed by a returned request.
  uint64_t buffered_size_bytes() const { return buffer_.size() - consumed_size_bytes_; }

 private:
  enum class State : uint8_t { request_start, bulk_length, bulk_body, failed };
  // What one step of next() did. Every `consumed` step consumed at least one byte.
  enum class Step : uint8_t { consumed, complete, need_more, failed };

  Step step();
  Step parse_inline();
  Step parse_multibulk_length();
  Step parse_bulk_length();
  Step parse_bulk_body();
  Step read_length_line(int64_t& length, const char* error);
  Step fail(std::string error);
  void store_arg(std::string_view bytes);
  void release_request();
  std::string_view unparsed() const;
  void consume(size_t size_bytes);
  void compact();

  const RespLimits limits_;
  State state_ = State::request_start;
  // Bytes fed; the first consumed_size_bytes_ of them are parsed and wait for compact().
  std::vector<char> buffer_;
  size_t consumed_size_bytes_ = 0;
  // How far an unfinished inline line was searched for its '\n', so no byte is searched twice.
  size_t inline_scanned_size_bytes_ = 0;
  // The multibulk request being read: its announced argument count, the arguments so far (the
  // first args_size_ of args_; the strings after them are kept for reuse), their total size, and
  // the size of the bulk string whose bytes are awaited.
  uint64_t args_expected_ = 0;
  std::vector<std::string> args_;
  size_t args_size_ = 0;
  bool complete_ = false;  // args_ holds the request next() last returned
  uint64_t request_size_bytes_ = 0;
  uint64_t bulk_size_bytes_ = 0;
  std::string error_;
};

}  // namespace keel::resp
