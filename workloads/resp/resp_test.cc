// The RESP2 parser and writer: requests as redis-cli, redis-benchmark and telnet send them,
// Redis's protocol errors, the limits, and that no split of a stream changes what it parses to.

#include <gtest/gtest.h>
#include <rapidcheck/gtest.h>

#include <algorithm>
#include <string>
#include <vector>

#include "io/assert.h"
#include "workloads/resp/resp_parser.h"
#include "workloads/resp/resp_writer.h"

namespace keel::resp {
namespace {

using Args = std::vector<std::string>;
using namespace std::string_literals;

// What a stream parses to: its requests, then the error that ended it (empty if none).
struct Outcome {
  std::vector<Args> requests;
  std::string error;
  bool operator==(const Outcome&) const = default;
};

// Parses stream as a connection handler would, feeding chunks of the given sizes in turn (all
// that fits if none), at most feed_size_bytes_max() at a time.
Outcome parse(std::string_view stream, const std::vector<size_t>& chunk_sizes,
              const RespLimits& limits = {}) {
  RespParser parser(limits);
  Outcome outcome;
  size_t offset = 0;
  for (size_t chunk_index = 0;; chunk_index++) {
    for (RespParser::Status status = parser.next(); status != RespParser::Status::need_more;
         status = parser.next()) {
      if (status == RespParser::Status::error) {
        KEEL_ASSERT(parser.args().empty());
        outcome.error = parser.error();
        return outcome;
      }
      KEEL_ASSERT(request_within_limits(parser.args(), limits));
      outcome.requests.emplace_back(parser.args().begin(), parser.args().end());
    }
    KEEL_ASSERT(parser.buffered_size_bytes() <= limits.buffered_size_bytes_max);
    if (offset == stream.size()) return outcome;
    size_t chunk_size =
        chunk_sizes.empty() ? stream.size() : chunk_sizes[chunk_index % chunk_sizes.size()];
    chunk_size =
        std::min<uint64_t>({chunk_size, stream.size() - offset, parser.feed_size_bytes_max()});
    KEEL_ASSERT(chunk_size > 0);
    parser.feed(stream.substr(offset, chunk_size));
    offset += chunk_size;
  }
}

// Parses stream all at once and byte at a time, expects the same, and returns it.
Outcome parse_any_split(std::string_view stream, const RespLimits& limits = {}) {
  const Outcome whole = parse(stream, {}, limits);
  EXPECT_EQ(parse(stream, {1}, limits), whole) << "byte at a time";
  EXPECT_EQ(parse(stream, {7, 3, 1}, limits), whole) << "chunks of 7, 3, 1";
  return whole;
}

std::string multibulk(const std::vector<Args>& requests) {
  std::string stream;
  for (const Args& args : requests) {
    array_header(stream, args.size());
    for (const std::string& arg : args) bulk(stream, arg);
  }
  return stream;
}

RespLimits small_limits() {
  return RespLimits{.bulk_size_bytes_max = 8,
                    .args_max = 3,
                    .inline_size_bytes_max = 8,
                    .request_size_bytes_max = 12,
                    .buffered_size_bytes_max = 32};
}

TEST(RespParser, MultibulkSetAndGet) {
  const Outcome outcome = parse_any_split(
      "*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$5\r\nhello\r\n*2\r\n$3\r\nGET\r\n$1\r\nk\r\n");
  EXPECT_EQ(outcome.requests, (std::vector<Args>{{"SET", "k", "hello"}, {"GET", "k"}}));
  EXPECT_EQ(outcome.error, "");
}

TEST(RespParser, RedisBenchmarkSet) {
  const Outcome outcome =
      parse_any_split("*3\r\n$3\r\nSET\r\n$16\r\nkey:__rand_int__\r\n$3\r\nxxx\r\n");
  EXPECT_EQ(outcome.requests, (std::vector<Args>{{"SET", "key:__rand_int__", "xxx"}}));
}

TEST(RespParser, BulkStringsHoldAnyBytes) {
  const std::string value("a\r\nb\0c*$", 8);
  const Outcome outcome = parse_any_split(multibulk({{"SET", "", value}}));
  EXPECT_EQ(outcome.requests, (std::vector<Args>{{"SET", "", value}}));
}

TEST(RespParser, PipelinedMultibulkAndInlineMixed) {
  const std::string stream = multibulk({{"PING"}, {"GET", "a"}}) + "SET b 1\r\nGET b\n" +
                             multibulk({{"DEL", "a", "b"}}) + "PING\r\n";
  const Outcome outcome = parse_any_split(stream);
  EXPECT_EQ(
      outcome.requests,
      (std::vector<Args>{
          {"PING"}, {"GET", "a"}, {"SET", "b", "1"}, {"GET", "b"}, {"DEL", "a", "b"}, {"PING"}}));
  EXPECT_EQ(outcome.error, "");
}

TEST(RespParser, EmptyRequestsYieldNothing) {
  const Outcome outcome = parse_any_split("*0\r\n*-1\r\n\r\n\n  \t \r\nPING\r\n*0\r\n");
  EXPECT_EQ(outcome.requests, (std::vector<Args>{{"PING"}}));
  EXPECT_EQ(outcome.error, "");
}

TEST(RespParser, UnfinishedRequestNeedsMore) {
  for (const std::string stream : {"*2\r\n$3\r\nGET\r\n$1\r\nk\r", "PING", "*", "*2\r\n$"}) {
    const Outcome outcome = parse_any_split(stream);
    EXPECT_EQ(outcome, Outcome{}) << stream;
  }
}

TEST(RespParser, InlineSplitsOnBlanks) {
  const Outcome outcome = parse_any_split("set  key\tvalue \r\nget key\n  PING\r\n");
  EXPECT_EQ(outcome.requests,
            (std::vector<Args>{{"set", "key", "value"}, {"get", "key"}, {"PING"}}));
}

TEST(RespParser, InlineQuotesAndEscapes) {
  const Outcome outcome = parse_any_split(
      "set \"hello world\" 'single quoted'\r\n"
      "set \"\\x41\\x4a\\n\\r\\t\\\"\\\\\\q\" 'it\\'s \\n'\r\n"
      "set \"\" '' foo\"bar baz\" \"\\xZZ\"\r\n");
  EXPECT_EQ(outcome.requests, (std::vector<Args>{{"set", "hello world", "single quoted"},
                                                 {"set", "AJ\n\r\t\"\\q", "it's \\n"},
                                                 {"set", "", "", "foobar baz", "xZZ"}}));
  EXPECT_EQ(outcome.error, "");
}

struct ErrorCase {
  std::string stream;
  std::string error;
};

TEST(RespParser, ProtocolErrorsUseRedisWording) {
  const std::vector<ErrorCase> cases = {
      {"*abc\r\n", "invalid multibulk length"},
      {"*01\r\n", "invalid multibulk length"},
      {"*+1\r\n", "invalid multibulk length"},
      {"*-0\r\n", "invalid multibulk length"},
      {"*1\rx", "invalid multibulk length"},
      {"*" + std::string(40, '1'), "invalid multibulk length"},
      {"*4097\r\n", "invalid multibulk length"},
      {"*1\r\nfoo\r\n", "expected '$', got 'f'"},
      {std::string("*1\r\n\x01", 5), "expected '$', got '\\x01'"},
      {"*1\r\n$-1\r\n", "invalid bulk length"},
      {"*1\r\n$x\r\n", "invalid bulk length"},
      {"*1\r\n$\r\n", "invalid bulk length"},
      {"*1\r\n$1048577\r\n", "bulk string over the maximum of 1048576 bytes"},
      {"*1\r\n$3\r\nfooXY", "expected CRLF after bulk string"},
      {"set \"a\r\n", "unbalanced quotes in request"},
      {"set 'a\r\n", "unbalanced quotes in request"},
      {"set \"a\"b\r\n", "unbalanced quotes in request"},
      {"set 'a'b\r\n", "unbalanced quotes in request"},
      {"set \"a\\\"\r\n", "unbalanced quotes in request"},
      {std::string(64 * 1024 + 1, 'a'), "too big inline request"},
      {std::string(64 * 1024 + 1, 'a') + "\r\n", "too big inline request"},
  };
  for (const ErrorCase& error_case : cases) {
    const Outcome outcome = parse_any_split(error_case.stream);
    EXPECT_EQ(outcome.requests, std::vector<Args>{}) << error_case.stream;
    EXPECT_EQ(outcome.error, error_case.error) << error_case.stream;
  }
}

TEST(RespParser, RequestsBeforeAnErrorStillCount) {
  const Outcome outcome = parse_any_split("PING\r\n*1\r\n$4\r\nPING\r\n*x\r\nPING\r\n");
  EXPECT_EQ(outcome.requests, (std::vector<Args>{{"PING"}, {"PING"}}));
  EXPECT_EQ(outcome.error, "invalid multibulk length");
}

TEST(RespParser, StaysInErrorAfterAnError) {
  RespParser parser(RespLimits{});
  parser.feed("*1\r\n$x\r\n");
  EXPECT_EQ(parser.next(), RespParser::Status::error);
  EXPECT_EQ(parser.error(), "invalid bulk length");
  parser.feed("PING\r\n");
  for (int i = 0; i < 3; i++) {
    EXPECT_EQ(parser.next(), RespParser::Status::error);
    EXPECT_EQ(parser.error(), "invalid bulk length");
    EXPECT_TRUE(parser.args().empty());
  }
  EXPECT_EQ(parser.buffered_size_bytes(), 0u);
}

TEST(RespParser, LimitsHoldAtTheirEdges) {
  const RespLimits limits = small_limits();
  // A bulk string and an inline line of exactly the maximum; as many arguments as allowed.
  EXPECT_EQ(parse_any_split(multibulk({{"12345678"}}), limits).requests,
            (std::vector<Args>{{"12345678"}}));
  EXPECT_EQ(parse_any_split("a b c d\r\n", limits).error, "too many arguments in inline request");
  EXPECT_EQ(parse_any_split("a b cd\r\n", limits).requests, (std::vector<Args>{{"a", "b", "cd"}}));
  EXPECT_EQ(parse_any_split("a b cde\n", limits).requests, (std::vector<Args>{{"a", "b", "cde"}}));
  EXPECT_EQ(parse_any_split(multibulk({{"a", "b", "c"}}), limits).requests,
            (std::vector<Args>{{"a", "b", "c"}}));
  // One past each.
  EXPECT_EQ(parse_any_split(multibulk({{"123456789"}}), limits).error,
            "bulk string over the maximum of 8 bytes");
  EXPECT_EQ(parse_any_split("a b cdefg\n", limits).error, "too big inline request");
  EXPECT_EQ(parse_any_split("a b cdefg", limits).error, "too big inline request");
  EXPECT_EQ(parse_any_split(multibulk({{"a", "b", "c", "d"}}), limits).error,
            "invalid multibulk length");
  EXPECT_EQ(parse_any_split(multibulk({{"12345678", "12345"}}), limits).error,
            "request over the maximum of 12 bytes");
  EXPECT_EQ(parse_any_split(multibulk({{"12345678", "1234"}}), limits).requests,
            (std::vector<Args>{{"12345678", "1234"}}));
}

// The parser reuses the strings of one request for the next: each request must read as itself
// whatever came before it, longer or shorter, with more arguments or fewer.
TEST(RespParser, ReusedArgumentsHoldOnlyTheirRequest) {
  const std::vector<Args> requests = {
      {"SET", std::string(5000, 'k'), std::string(70000, 'v')},
      {"GET", "k"},
      {"MSET", "a", "1", "b", "2", "c", "3"},
      {"PING"},
      {"SET", "key:000000012345", "xxx"},
      {"SET", "key:000000012346", ""},
  };
  Args many_keys{"DEL"};
  for (int i = 0; i < 100; i++) many_keys.push_back("key" + std::to_string(i));
  std::string stream;
  std::vector<Args> expected;
  for (int round = 0; round < 3; round++) {
    for (const Args& request : requests) expected.push_back(request);
    expected.push_back(many_keys);
    expected.push_back({"GET", "short"});
  }
  for (const Args& request : expected) stream += multibulk({request});
  for (const std::vector<size_t>& split : {std::vector<size_t>{}, {1}, {7, 4096, 3}}) {
    const Outcome outcome = parse(stream, split);
    EXPECT_EQ(outcome.error, "");
    EXPECT_EQ(outcome.requests, expected);
  }
}

TEST(RespParser, EndlessPipelineStaysWithinTheBufferLimit) {
  // 1 MiB of pipelined requests through a 32-byte buffer: consumed bytes are released, or
  // feed() would run out of room (and its capacity assertion would fail).
  std::string stream;
  for (int i = 0; i < 64 * 1024; i++) stream += i % 2 == 0 ? "*1\r\n$4\r\nPING\r\n" : "GET k\n";
  const Outcome outcome = parse(stream, {5, 13, 32}, small_limits());
  EXPECT_EQ(outcome.requests.size(), 64u * 1024);
  EXPECT_EQ(outcome.error, "");
}

TEST(RespParser, FeedRoomIsTheBufferLimitLessWhatIsHeld) {
  const RespLimits limits = small_limits();
  RespParser parser(limits);
  EXPECT_EQ(parser.feed_size_bytes_max(), 32u);
  parser.feed("*1\r\n$8\r\n1234");
  EXPECT_EQ(parser.next(), RespParser::Status::need_more);
  EXPECT_EQ(parser.buffered_size_bytes(), 4u);  // The length lines are consumed.
  EXPECT_EQ(parser.feed_size_bytes_max(), 28u);
  parser.feed("5678\r\nPING\r\n");
  EXPECT_EQ(parser.next(), RespParser::Status::complete);
  EXPECT_EQ(Args(parser.args().begin(), parser.args().end()), (Args{"12345678"}));
  EXPECT_EQ(parser.next(), RespParser::Status::complete);
  EXPECT_EQ(Args(parser.args().begin(), parser.args().end()), (Args{"PING"}));
  EXPECT_EQ(parser.next(), RespParser::Status::need_more);
  EXPECT_TRUE(parser.args().empty());
  EXPECT_EQ(parser.buffered_size_bytes(), 0u);
  EXPECT_EQ(parser.feed_size_bytes_max(), 32u);
}

RC_GTEST_PROP(RespParser, MultibulkRoundTripsInAnyChunks,
              (const std::vector<Args>& generated, const std::vector<uint8_t>& chunk_bytes)) {
  std::vector<Args> requests;
  for (const Args& args : generated) {
    if (!args.empty()) requests.push_back(args);  // An empty request yields nothing.
  }
  std::vector<size_t> chunk_sizes;
  for (const uint8_t size : chunk_bytes) chunk_sizes.push_back(size % 64 + 1);
  const Outcome outcome = parse(multibulk(requests), chunk_sizes);
  RC_ASSERT(outcome.error.empty());
  RC_ASSERT(outcome.requests == requests);
}

// Pieces of requests, whole or broken, so that random streams reach every state and error.
rc::Gen<std::string> stream_piece() {
  using rc::gen::just;
  const auto word =
      rc::gen::container<std::string>(rc::gen::elementOf(std::string("ab \t\"'\\x4f")));
  const auto length = rc::gen::inRange(-2, 12);
  return rc::gen::weightedOneOf<std::string>({
      {4, rc::gen::map(rc::gen::arbitrary<std::vector<Args>>(), multibulk)},
      {3, rc::gen::map(length, [](int n) { return "*" + std::to_string(n) + "\r\n"; })},
      {3, rc::gen::map(length, [](int n) { return "$" + std::to_string(n) + "\r\n"; })},
      {3, word},
      {3, rc::gen::elementOf(std::vector<std::string>{"\r\n", "\n", "\r", "*", "$", "0"})},
      {1, rc::gen::container<std::string>(rc::gen::arbitrary<char>())},
  });
}

// Any bytes parse the same however they are split, even where they end in an error or a limit.
RC_GTEST_PROP(RespParser, AnyBytesParseTheSameInAnyChunks,
              (const std::vector<uint8_t>& chunk_bytes)) {
  std::string stream;
  for (const std::string& piece : *rc::gen::container<std::vector<std::string>>(stream_piece())) {
    stream += piece;
  }
  std::vector<size_t> chunk_sizes;
  for (const uint8_t size : chunk_bytes) chunk_sizes.push_back(size % 16 + 1);
  for (const RespLimits& limits : {small_limits(), RespLimits{}}) {
    const Outcome whole = parse(stream, {}, limits);
    RC_ASSERT(parse(stream, chunk_sizes, limits) == whole);
  }
}

TEST(RespWriter, EncodesEachReply) {
  std::string out;
  simple(out, "OK");
  error(out, "ERR unknown command 'x'");
  integer(out, -42);
  bulk(out, std::string("a\r\n\0", 4));
  null_bulk(out);
  array_header(out, 2);
  null_array(out);
  bulk(out, "");
  EXPECT_EQ(
      out,
      "+OK\r\n-ERR unknown command 'x'\r\n:-42\r\n$4\r\na\r\n\0\r\n$-1\r\n*2\r\n*-1\r\n$0\r\n\r\n"s);
}

TEST(RespWriter, LineRepliesNeverHoldALineEnd) {
  std::string out;
  error(out, "ERR bad\r\nkey\n");
  simple(out, "a\rb");
  EXPECT_EQ(out, "-ERR bad  key \r\n+a b\r\n");
}

}  // namespace
}  // namespace keel::resp
