// libFuzzer target: the RESP parser never crashes on any bytes fed in any chunks; its requests
// respect the limits; an error is final; and the split never changes the outcome.
// Build: cmake --preset fuzz && cmake --build --preset fuzz --target resp_fuzz
// Run:   build/fuzz/fuzz/resp_fuzz fuzz/corpus/resp -max_total_time=60

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "io/assert.h"
#include "workloads/resp/resp_parser.h"

namespace {

using keel::resp::RespLimits;
using keel::resp::RespParser;

constexpr size_t header_size_bytes = 4;  // A limits byte, then three chunk sizes.

// Small limits, so that every limit is within the fuzzer's reach; or the defaults.
RespLimits limits_from(uint8_t byte) {
  if (byte % 2 == 1) return RespLimits{};
  return RespLimits{.bulk_size_bytes_max = 16,
                    .args_max = 4,
                    .inline_size_bytes_max = 16,
                    .request_size_bytes_max = 32,
                    .buffered_size_bytes_max = 48};
}

// The requests of a stream fed in chunks of the given sizes in turn (0: all that fits), and the
// error that ended it.
struct Outcome {
  std::vector<std::vector<std::string>> requests;
  std::string error;
  bool operator==(const Outcome&) const = default;
};

// Drains the parser's complete requests; true once it is in error, which it checks is final.
bool drain(RespParser& parser, const RespLimits& limits, Outcome& outcome) {
  for (RespParser::Status status = parser.next(); status != RespParser::Status::need_more;
       status = parser.next()) {
    if (status == RespParser::Status::error) {
      KEEL_ASSERT(!parser.error().empty() && parser.args().empty());
      outcome.error = parser.error();
      parser.feed("PING\r\n");
      KEEL_ASSERT(parser.next() == RespParser::Status::error && parser.error() == outcome.error);
      KEEL_ASSERT(parser.args().empty());
      return true;
    }
    KEEL_ASSERT(keel::resp::request_within_limits(parser.args(), limits));
    outcome.requests.emplace_back(parser.args().begin(), parser.args().end());
  }
  // An unfinished request always leaves room to feed the rest of it.
  KEEL_ASSERT(parser.buffered_size_bytes() <= limits.buffered_size_bytes_max);
  KEEL_ASSERT(parser.feed_size_bytes_max() > 0);
  return false;
}

Outcome parse(std::string_view stream, const RespLimits& limits,
              const std::vector<size_t>& chunk_sizes) {
  RespParser parser(limits);
  Outcome outcome;
  size_t offset = 0;
  for (size_t chunk_index = 0; !drain(parser, limits, outcome) && offset < stream.size();
       chunk_index++) {
    const size_t wanted = chunk_sizes[chunk_index % chunk_sizes.size()];
    const size_t chunk_size =
        std::min<uint64_t>({wanted == 0 ? stream.size() : wanted, stream.size() - offset,
                            parser.feed_size_bytes_max()});
    parser.feed(stream.substr(offset, chunk_size));
    offset += chunk_size;
  }
  return outcome;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < header_size_bytes) return 0;
  const RespLimits limits = limits_from(data[0]);
  const std::vector<size_t> chunk_sizes = {data[1], data[2], data[3]};
  const std::string_view stream(reinterpret_cast<const char*>(data) + header_size_bytes,
                                size - header_size_bytes);
  const Outcome chunked = parse(stream, limits, chunk_sizes);
  KEEL_ASSERT(parse(stream, limits, {0}) == chunked);
  return 0;
}
