#include "tools/cli/protocols.h"

#include <fmt/format.h>

#include "sim/vsr_protocol.h"
#include "tests/fixture/counter.h"
#include "tools/cli/args.h"

namespace keel::cli {

std::unique_ptr<sim::ProtocolUnderTest> make_protocol(std::string_view name, std::string_view bug) {
  if (name == "fixture-counter") {
    fixture::CounterBug counter_bug;
    if (!fixture::parse_counter_bug(bug, counter_bug)) {
      throw UsageError(fmt::format("--bug: '{}' is not a bug of {} (one of: {})", bug, name,
                                   fixture::counter_bug_names()));
    }
    return std::make_unique<fixture::CounterProtocol>(counter_bug);
  }
  if (name == "vsr" || name == "vsr-resp") {
    if (bug != "none") {
      throw UsageError(fmt::format("--bug: '{}' is not a bug of {} (one of: none)", bug, name));
    }
    return std::make_unique<sim::VsrProtocol>(name == "vsr" ? sim::VsrFront::native
                                                            : sim::VsrFront::resp);
  }
  throw UsageError(fmt::format(
      "--protocol: unknown protocol '{}' (known: vsr, vsr-resp, fixture-counter)", name));
}

std::string protocol_help() {
  return "  vsr              Viewstamped Replication replicating the KV state machine\n"
         "  vsr-resp         the same, with clients going through the Redis-compatible front\n"
         "                   door's session code (RESP bytes in and out)\n"
         "  fixture-counter  a primary-backup counter kept in tests/fixture to prove the\n"
         "                   simulator; a test fixture, not a protocol to deploy\n";
}

}  // namespace keel::cli
