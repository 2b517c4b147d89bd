#pragma once
// The run's trace: every scheduling decision, message send, delivery and drop, fault, and
// client operation, in order. A running XXH3 hash over all records identifies a run; the
// records can also go to a file (for replay and diffing) or be checked, one by one, against a
// file recorded earlier.

#include <cstdint>
#include <fstream>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "sim/trace.pb.h"

namespace keel::sim {

enum class TraceKind : uint32_t {
  event = 1,            // a = event sequence number, b = event tag kind
  send = 2,             // node = from, a = to, b = frame size
  deliver = 3,          // node = to, a = from, b = frame size
  drop = 4,             // node = from, a = to, b = DropReason
  fault = 5,            // node, a = FaultKind, b = detail
  phase = 6,            // a = Phase
  client_invoke = 7,    // node = client, a = operation id, b = argument
  client_complete = 8,  // node = client, a = operation id, b = result
  check = 9,            // a = check id, b = outcome
};

std::string trace_kind_name(uint32_t kind);

struct TraceRecord {
  uint64_t time_ns = 0;
  uint32_t kind = 0;
  uint32_t node = 0;
  uint64_t a = 0;
  uint64_t b = 0;
  bool operator==(const TraceRecord&) const = default;
};

std::string format_record(const TraceRecord& record);

struct TraceDivergence {
  uint64_t index = 0;
  std::optional<TraceRecord> expected;  // empty: the recorded trace had ended
  std::optional<TraceRecord> actual;    // empty: this run ended first
};

class Trace {
 public:
  Trace();
  ~Trace();

  // Writes every record to path. Returns false with error set if the file cannot be opened.
  bool write_to(const std::string& path, const proto::TraceHeader& header, std::string& error);
  // Compares every record with the one recorded in path, in order.
  bool verify_against(const std::string& path, proto::TraceHeader& header, std::string& error);

  void record(const TraceRecord& record);
  // Closes the file (writing the footer) or, when verifying, checks that the recorded trace
  // ended here too. Returns the recorded footer when verifying.
  std::optional<proto::TraceFooter> finish(proto::TraceFooter footer);

  uint64_t records() const { return records_; }
  // True if writing the trace file failed (a full disk, say): the file is incomplete.
  bool write_failed() const { return write_failed_; }
  uint64_t hash() const;
  const std::optional<TraceDivergence>& divergence() const { return divergence_; }

 private:
  struct HashState;
  std::unique_ptr<HashState> hash_state_;
  uint64_t records_ = 0;
  std::unique_ptr<std::ofstream> output_;
  bool write_failed_ = false;
  struct Reader;
  std::unique_ptr<Reader> reader_;
  std::optional<TraceDivergence> divergence_;
  proto::TraceEntry entry_;  // Reused to avoid an allocation per record.
};

// Reads a whole trace file. Returns false with error set if it cannot be read or parsed.
struct TraceFile {
  proto::TraceHeader header;
  std::vector<TraceRecord> records;
  std::optional<proto::TraceFooter> footer;
};
bool read_trace_file(const std::string& path, TraceFile& file, std::string& error);

}  // namespace keel::sim
