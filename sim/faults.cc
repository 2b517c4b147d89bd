#include "sim/faults.h"

namespace keel::sim {

std::string_view fault_kind_name(FaultKind kind) {
  switch (kind) {
    case FaultKind::net_loss:
      return "net_loss";
    case FaultKind::net_duplicate:
      return "net_duplicate";
    case FaultKind::net_reorder:
      return "net_reorder";
    case FaultKind::net_corrupt:
      return "net_corrupt";
    case FaultKind::net_capacity_drop:
      return "net_capacity_drop";
    case FaultKind::net_clog_link:
      return "net_clog_link";
    case FaultKind::net_clog_node:
      return "net_clog_node";
    case FaultKind::partition_symmetric:
      return "partition_symmetric";
    case FaultKind::partition_asymmetric:
      return "partition_asymmetric";
    case FaultKind::partition_isolate:
      return "partition_isolate";
    case FaultKind::partition_random_split:
      return "partition_random_split";
    case FaultKind::partition_heal:
      return "partition_heal";
    case FaultKind::client_cutoff:
      return "client_cutoff";
    case FaultKind::disk_slow:
      return "disk_slow";
    case FaultKind::disk_read_corrupt:
      return "disk_read_corrupt";
    case FaultKind::disk_write_corrupt:
      return "disk_write_corrupt";
    case FaultKind::disk_misdirect:
      return "disk_misdirect";
    case FaultKind::disk_latent_error:
      return "disk_latent_error";
    case FaultKind::disk_lost_write:
      return "disk_lost_write";
    case FaultKind::disk_torn_write:
      return "disk_torn_write";
    case FaultKind::clock_offset:
      return "clock_offset";
    case FaultKind::clock_drift:
      return "clock_drift";
    case FaultKind::clock_jump:
      return "clock_jump";
    case FaultKind::process_crash:
      return "process_crash";
    case FaultKind::process_restart:
      return "process_restart";
    case FaultKind::process_pause:
      return "process_pause";
    case FaultKind::process_resume:
      return "process_resume";
    case FaultKind::process_wipe:
      return "process_wipe";
    case FaultKind::process_crash_at_moment:
      return "process_crash_at_moment";
    case FaultKind::disk_moment_damage:
      return "disk_moment_damage";
    case FaultKind::partition_moment_bridge:
      return "partition_moment_bridge";
    case FaultKind::partition_rotate:
      return "partition_rotate";
    case FaultKind::strand_lag:
      return "strand_lag";
    case FaultKind::strand_strike:
      return "strand_strike";
    case FaultKind::net_replay:
      return "net_replay";
    case FaultKind::partition_bridge:
      return "partition_bridge";
    case FaultKind::count:
      break;
  }
  return "unknown";
}

}  // namespace keel::sim
