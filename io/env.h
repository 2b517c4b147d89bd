#pragma once

#include <cstdint>

#include "io/bus.h"
#include "io/clock.h"
#include "io/random.h"
#include "io/storage.h"
#include "io/timers.h"

namespace keel::io {

// Everything one node may touch. Protocol and workload code gets an Env and nothing else; the
// simulator and the runtime each provide one per node.
struct Env {
  Clock& clock;
  Timers& timers;
  MessageBus& bus;
  Random& random;
  BlockStorage* storage;  // nullptr for nodes without a disk (clients).
  uint64_t cluster_id;
};

}  // namespace keel::io
