#pragma once

#include <cstdint>

#include "io/types.h"

namespace keel::io {

using TimerId = uint64_t;
inline constexpr TimerId timer_id_none = 0;

// One-shot timers on the node's event loop. A callback always runs on the loop, never inside
// start() itself, so a delay of 0 means "on a later turn of the loop".
class Timers {
 public:
  virtual ~Timers() = default;
  // Returns a non-zero id, unique for the node's lifetime.
  virtual TimerId start(uint64_t delay_ns, Callback callback) = 0;
  // Returns true if the timer was pending and now never fires; false if it already fired, was
  // cancelled before, or never existed.
  virtual bool cancel(TimerId timer) = 0;
};

}  // namespace keel::io
