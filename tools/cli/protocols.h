#pragma once
// The protocols `keel sim` can drive, by name.

#include <memory>
#include <string>
#include <string_view>

#include "sim/protocol.h"

namespace keel::cli {

inline constexpr std::string_view protocol_default = "vsr";

// Throws UsageError for an unknown protocol or a bug the protocol does not know.
std::unique_ptr<sim::ProtocolUnderTest> make_protocol(std::string_view name, std::string_view bug);
std::string protocol_help();

}  // namespace keel::cli
