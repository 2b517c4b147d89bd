#pragma once
// Every fault the simulator injects, by kind. Each injection is counted here, recorded in the
// trace and reported in the run summary.

#include <array>
#include <cstdint>
#include <string_view>

namespace keel::sim {

enum class FaultKind : uint8_t {
  // Network, per message.
  net_loss,
  net_duplicate,
  net_reorder,        // an extra delay that lets later messages overtake
  net_corrupt,        // a flipped bit, caught by the frame checksum
  net_capacity_drop,  // the link's in-flight limit was reached
  // Network, by the nemesis.
  net_clog_link,
  net_clog_node,
  partition_symmetric,
  partition_asymmetric,
  partition_isolate,
  partition_random_split,
  partition_heal,
  client_cutoff,
  // Disk.
  disk_slow,           // a latency spike
  disk_read_corrupt,   // the sector reads back damaged, on every retry, until rewritten
  disk_write_corrupt,  // the write lands damaged
  disk_misdirect,      // the write lands at another offset; the target keeps stale data
  disk_latent_error,   // reads of the sector fail until it is rewritten
  disk_lost_write,     // an unsynced write lost in a crash
  disk_torn_write,     // an unsynced write partly landed in a crash
  // Clock.
  clock_offset,
  clock_drift,
  clock_jump,
  // Process.
  process_crash,
  process_restart,
  process_pause,
  process_resume,
  process_wipe,
  process_crash_at_moment,  // a crash soon after a replica's critical moment (also a crash)
  partition_bridge,         // two groups cut apart, one replica in touch with both
  disk_moment_damage,       // a moment crash also damaged the block of one of the latest writes
  partition_moment_bridge,  // a moment crash also made the crashed replica a bridge
  partition_rotate,         // a new primary isolated, and the partition before it healed
  strand_lag,               // a primary cut off from the backups a commit can leave out
  strand_strike,            // then isolated, and a backup that kept up crashed with damage
  net_replay,               // a copy of the message delivered again, seconds later
  count,
};

inline constexpr size_t fault_kind_count = static_cast<size_t>(FaultKind::count);

std::string_view fault_kind_name(FaultKind kind);

using FaultCounts = std::array<uint64_t, fault_kind_count>;

}  // namespace keel::sim
