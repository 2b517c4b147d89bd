#pragma once
// A replica's configuration. Names and defaults are the VSR deployment guide's
// (docs/vsr.md, "Configuration"); sizes the guide leaves open have defaults sized for a real
// disk. The simulator shrinks sizes to reach wrap-around, checkpoints and evictions quickly.

#include <cstdint>
#include <string>

namespace keel::vsr {

struct Config {
  uint32_t replica_count = 3;

  // [timeouts]
  uint64_t heartbeat_interval_ms = 100;
  uint64_t heartbeat_timeout_ms = 300;
  uint64_t view_change_timeout_ms = 500;
  uint64_t recovery_timeout_ms = 5000;
  // [clock]
  uint64_t clock_offset_tolerance_ms = 100;
  uint64_t clock_sync_window_ms = 5000;
  // The largest window or tolerance ClockSync takes: 2^40 ns, about 18 minutes.
  static constexpr uint64_t clock_duration_ms_max = (uint64_t{1} << 40) / 1'000'000;
  // [checkpoint]
  uint64_t checkpoint_interval = 10000;
  uint32_t checkpoint_retention = 3;
  // [repair]
  uint32_t repair_budget = 10;  // requests per tick
  uint64_t repair_timeout_ms = 500;
  // [scrubbing]
  uint32_t scrub_budget = 100;  // WAL slots checked per scrub
  uint32_t scrub_interval_ticks = 10;

  // Sizes. A tick is heartbeat_interval_ms / 4 (timeouts are counted in ticks).
  uint64_t wal_slots = 16384;                    // must exceed checkpoint_interval + pipeline_max
  uint64_t message_size_bytes_max = 256 * 1024;  // a prepare, including its body
  // Prepares in flight at once. 1 by default: the journal writes one entry at a time, so a deeper
  // pipeline only splits the waiting requests into smaller batches (docs/benchmarks.md: 4,956
  // SET/s at 8, 11,053 at 1). Worth raising once WAL writes are group-committed.
  uint32_t pipeline_max = 1;
  uint32_t batch_requests_max = 64;  // client requests in one prepare
  // After a commit answers a batch, the primary holds its next prepare back until as many
  // requests wait as were waiting plus answered, or this long: the clients just answered join
  // the same prepare instead of the next one (docs/vsr.md, "Batching"). 0: never held.
  uint64_t batch_delay_us = 1000;
  static constexpr uint64_t batch_delay_us_max = 10'000;
  uint32_t request_queue_max = 1024;               // requests waiting for the pipeline
  uint32_t clients_max = 64;                       // client table sessions
  uint64_t snapshot_size_bytes_max = 64ull << 20;  // one checkpoint area
  uint64_t checkpoint_chunk_bytes = 256 * 1024;    // state transfer message body

  uint64_t tick_ms() const {
    return heartbeat_interval_ms / 4 == 0 ? 1 : heartbeat_interval_ms / 4;
  }
  uint64_t ticks(uint64_t ms) const { return (ms + tick_ms() - 1) / tick_ms(); }

  // An empty string if the configuration is usable, else what is wrong with it.
  std::string validate() const;
};

}  // namespace keel::vsr
