#include "core/vsr/config.h"

#include <fmt/format.h>

namespace keel::vsr {

std::string Config::validate() const {
  if (replica_count < 1 || replica_count > 6) {
    return fmt::format("replica_count {} is outside 1..6", replica_count);
  }
  if (heartbeat_interval_ms == 0) return "heartbeat_interval_ms must be positive";
  if (heartbeat_timeout_ms <= heartbeat_interval_ms) {
    return fmt::format("heartbeat_timeout_ms {} must exceed heartbeat_interval_ms {}",
                       heartbeat_timeout_ms, heartbeat_interval_ms);
  }
  if (view_change_timeout_ms == 0) return "view_change_timeout_ms must be positive";
  if (recovery_timeout_ms == 0) return "recovery_timeout_ms must be positive";
  if (clock_sync_window_ms <= heartbeat_interval_ms) {
    return "clock_sync_window_ms must exceed heartbeat_interval_ms";
  }
  if (clock_sync_window_ms > clock_duration_ms_max) {
    return fmt::format("clock_sync_window_ms {} exceeds {} (about 18 minutes)",
                       clock_sync_window_ms, clock_duration_ms_max);
  }
  if (clock_offset_tolerance_ms > clock_duration_ms_max) {
    return fmt::format("clock_offset_tolerance_ms {} exceeds {} (about 18 minutes)",
                       clock_offset_tolerance_ms, clock_duration_ms_max);
  }
  if (checkpoint_interval == 0) return "checkpoint_interval must be positive";
  if (checkpoint_retention < 1 || checkpoint_retention > 8) {
    return fmt::format("checkpoint_retention {} is outside 1..8", checkpoint_retention);
  }
  if (wal_slots < checkpoint_interval + 2 * uint64_t{pipeline_max}) {
    return fmt::format(
        "wal_slots {} must be at least checkpoint_interval {} + 2 * pipeline_max {}: the WAL "
        "holds every op after the newest checkpoint",
        wal_slots, checkpoint_interval, pipeline_max);
  }
  if (pipeline_max < 1 || pipeline_max > 64) {
    return fmt::format("pipeline_max {} is outside 1..64", pipeline_max);
  }
  if (batch_requests_max < 1) return "batch_requests_max must be positive";
  if (batch_delay_us > batch_delay_us_max) {
    return fmt::format("batch_delay_us {} exceeds {}", batch_delay_us, batch_delay_us_max);
  }
  if (request_queue_max < 1) return "request_queue_max must be positive";
  if (clients_max < 1) return "clients_max must be positive";
  if (repair_budget < 1) return "repair_budget must be positive";
  if (repair_timeout_ms == 0) return "repair_timeout_ms must be positive";
  if (scrub_budget < 1 || scrub_interval_ticks < 1) {
    return "scrub_budget and scrub_interval_ticks must be positive";
  }
  if (message_size_bytes_max < 16 * 1024 || message_size_bytes_max > (1u << 20) - 64 * 1024) {
    return fmt::format("message_size_bytes_max {} is outside 16 KiB..960 KiB",
                       message_size_bytes_max);
  }
  if (checkpoint_chunk_bytes < 4096 || checkpoint_chunk_bytes > message_size_bytes_max) {
    return "checkpoint_chunk_bytes must be within 4 KiB..message_size_bytes_max";
  }
  if (snapshot_size_bytes_max == 0) return "snapshot_size_bytes_max must be positive";
  return "";
}

}  // namespace keel::vsr
