#pragma once

#include <cstdint>

namespace keel::io {

// A node's view of time. Monotonic time never goes backwards and is the only time protocol
// timeouts may use. Realtime is the node's wall clock: it may be skewed, drift and jump, so it
// is only ever an input to clock synchronisation, never trusted alone.
class Clock {
 public:
  virtual ~Clock() = default;
  virtual uint64_t monotonic_ns() const = 0;
  virtual int64_t realtime_ns() const = 0;
};

}  // namespace keel::io
