#pragma once
// Identifiers and callback types shared by every io/ interface.

#include <cstdint>

#include "absl/functional/any_invocable.h"

namespace keel::io {

// Replicas are numbered 0..replica_count-1; clients follow them.
using NodeId = uint32_t;
inline constexpr NodeId node_id_none = UINT32_MAX;

using Callback = absl::AnyInvocable<void()>;

enum class IoStatus : uint8_t {
  ok = 0,
  // The device reported an error for this request (a latent sector error, say). The data in a
  // read buffer is unspecified.
  error = 1,
};

using IoCallback = absl::AnyInvocable<void(IoStatus)>;

inline constexpr uint64_t ns_per_us = 1'000;
inline constexpr uint64_t ns_per_ms = 1'000'000;
inline constexpr uint64_t ns_per_s = 1'000'000'000;

}  // namespace keel::io
