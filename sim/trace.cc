#include "sim/trace.h"

#include <fmt/format.h>
#include <google/protobuf/io/zero_copy_stream_impl.h>
#include <google/protobuf/util/delimited_message_util.h>

#include <algorithm>
#include <array>
#include <iterator>
#define XXH_STATIC_LINKING_ONLY  // for a stack-allocated XXH3_state_t
#include <xxhash.h>

#include "io/assert.h"
#include "sim/faults.h"

namespace keel::sim {

namespace pbio = google::protobuf::io;
using google::protobuf::util::ParseDelimitedFromZeroCopyStream;
using google::protobuf::util::SerializeDelimitedToOstream;

std::string trace_kind_name(uint32_t kind) {
  switch (static_cast<TraceKind>(kind)) {
    case TraceKind::event:
      return "event";
    case TraceKind::send:
      return "send";
    case TraceKind::deliver:
      return "deliver";
    case TraceKind::drop:
      return "drop";
    case TraceKind::fault:
      return "fault";
    case TraceKind::phase:
      return "phase";
    case TraceKind::client_invoke:
      return "client_invoke";
    case TraceKind::client_complete:
      return "client_complete";
    case TraceKind::check:
      return "check";
  }
  return fmt::format("kind_{}", kind);
}

std::string format_record(const TraceRecord& record) {
  const std::string node =
      record.node == UINT32_MAX ? std::string("-") : fmt::format("{}", record.node);
  const std::string head =
      fmt::format("t={}ns {} node={}", record.time_ns, trace_kind_name(record.kind), node);
  switch (static_cast<TraceKind>(record.kind)) {
    case TraceKind::event:
      return fmt::format("{} sequence={} tag={}", head, record.a, record.b);
    case TraceKind::send:
      return fmt::format("{} to={} size={}", head, record.a, record.b);
    case TraceKind::deliver:
      return fmt::format("{} from={} size={}", head, record.a, record.b);
    case TraceKind::drop:
      return fmt::format("{} to={} reason={}", head, record.a, record.b);
    case TraceKind::fault:
      if (record.a < fault_kind_count) {
        return fmt::format("{} {} detail={}", head,
                           fault_kind_name(static_cast<FaultKind>(record.a)),
                           static_cast<int64_t>(record.b));
      }
      break;
    case TraceKind::client_invoke:
    case TraceKind::client_complete:
      return fmt::format("{} operation={} value={}", head, record.a,
                         static_cast<int64_t>(record.b));
    default:
      break;
  }
  return fmt::format("{} a={} b={}", head, record.a, record.b);
}

// Records are hashed in batches: XXH3's streaming hash of the concatenated records does not
// depend on how they are split, and one update per record cost more than the hashing itself.
struct Trace::HashState {
  static constexpr size_t batch_words = 256;  // 64 records
  XXH3_state_t state;
  std::array<uint64_t, batch_words> batch;
  size_t batched_words = 0;

  void add(const uint64_t (&words)[4]) {
    if (batched_words + 4 > batch_words) flush();
    std::copy(std::begin(words), std::end(words), batch.begin() + batched_words);
    batched_words += 4;
  }
  void flush() {
    XXH3_64bits_update(&state, batch.data(), batched_words * sizeof(uint64_t));
    batched_words = 0;
  }
};

struct Trace::Reader {
  std::ifstream file;
  std::unique_ptr<pbio::IstreamInputStream> stream;
  bool ended = false;
  std::optional<proto::TraceFooter> footer;

  // The next record, or nothing once the records end (the footer is kept).
  std::optional<TraceRecord> next() {
    if (ended) return std::nullopt;
    proto::TraceEntry entry;
    bool clean_eof = false;
    if (!ParseDelimitedFromZeroCopyStream(&entry, stream.get(), &clean_eof) ||
        !entry.has_record()) {
      ended = true;
      if (entry.has_footer()) footer = entry.footer();
      return std::nullopt;
    }
    const proto::TraceRecord& r = entry.record();
    return TraceRecord{r.time_ns(), r.kind(), r.node(), r.a(), r.b()};
  }
};

Trace::Trace() : hash_state_(std::make_unique<HashState>()) {
  XXH3_64bits_reset(&hash_state_->state);
}

Trace::~Trace() = default;

bool Trace::write_to(const std::string& path, const proto::TraceHeader& header,
                     std::string& error) {
  KEEL_ASSERT(records_ == 0);
  output_ = std::make_unique<std::ofstream>(path, std::ios::binary | std::ios::trunc);
  if (!*output_) {
    error = fmt::format("cannot open trace file {} for writing", path);
    output_.reset();
    return false;
  }
  proto::TraceEntry entry;
  *entry.mutable_header() = header;
  if (!SerializeDelimitedToOstream(entry, output_.get()) || !output_->flush()) {
    error = fmt::format("cannot write trace file {}", path);
    output_.reset();
    return false;
  }
  return true;
}

bool Trace::verify_against(const std::string& path, proto::TraceHeader& header,
                           std::string& error) {
  KEEL_ASSERT(records_ == 0);
  reader_ = std::make_unique<Reader>();
  reader_->file.open(path, std::ios::binary);
  if (!reader_->file) {
    error = fmt::format("cannot open trace file {}", path);
    return false;
  }
  reader_->stream = std::make_unique<pbio::IstreamInputStream>(&reader_->file);
  proto::TraceEntry entry;
  bool clean_eof = false;
  if (!ParseDelimitedFromZeroCopyStream(&entry, reader_->stream.get(), &clean_eof) ||
      !entry.has_header()) {
    error = fmt::format("{} is not a keel trace (no header)", path);
    return false;
  }
  header = entry.header();
  return true;
}

void Trace::record(const TraceRecord& record) {
  const uint64_t words[4] = {record.time_ns, (uint64_t{record.kind} << 32) | record.node, record.a,
                             record.b};
  hash_state_->add(words);
  const uint64_t index = records_++;
  if (output_) {
    proto::TraceRecord* r = entry_.mutable_record();
    r->set_time_ns(record.time_ns);
    r->set_kind(record.kind);
    r->set_node(record.node);
    r->set_a(record.a);
    r->set_b(record.b);
    if (!SerializeDelimitedToOstream(entry_, output_.get()) || !*output_) write_failed_ = true;
  }
  if (reader_ && !divergence_) {
    std::optional<TraceRecord> expected = reader_->next();
    if (!expected || !(*expected == record)) {
      divergence_ = TraceDivergence{index, expected, record};
    }
  }
}

std::optional<proto::TraceFooter> Trace::finish(proto::TraceFooter footer) {
  footer.set_records(records_);
  footer.set_trace_hash(hash());
  if (output_) {
    proto::TraceEntry entry;
    *entry.mutable_footer() = footer;
    if (!SerializeDelimitedToOstream(entry, output_.get())) write_failed_ = true;
    output_->flush();
    if (!*output_) write_failed_ = true;
    output_->close();
    if (output_->fail()) write_failed_ = true;
    output_.reset();
  }
  if (!reader_) return std::nullopt;
  if (!divergence_) {
    std::optional<TraceRecord> extra = reader_->next();
    if (extra) divergence_ = TraceDivergence{records_, extra, std::nullopt};
  }
  return reader_->footer;
}

uint64_t Trace::hash() const {
  hash_state_->flush();  // the batch is not part of the trace's state, only of its hashing
  return XXH3_64bits_digest(&hash_state_->state);
}

bool read_trace_file(const std::string& path, TraceFile& file, std::string& error) {
  std::ifstream input(path, std::ios::binary);
  if (!input) {
    error = fmt::format("cannot open trace file {}", path);
    return false;
  }
  pbio::IstreamInputStream stream(&input);
  proto::TraceEntry entry;
  bool clean_eof = false;
  if (!ParseDelimitedFromZeroCopyStream(&entry, &stream, &clean_eof) || !entry.has_header()) {
    error = fmt::format("{} is not a keel trace (no header)", path);
    return false;
  }
  file.header = entry.header();
  while (true) {
    // Parsing merges into the message, and proto3 leaves zero fields off the wire: a reused
    // entry would keep the previous record's non-zero fields.
    entry.Clear();
    if (!ParseDelimitedFromZeroCopyStream(&entry, &stream, &clean_eof)) break;
    if (entry.has_footer()) {
      file.footer = entry.footer();
      break;
    }
    if (!entry.has_record()) break;
    const proto::TraceRecord& r = entry.record();
    file.records.push_back(TraceRecord{r.time_ns(), r.kind(), r.node(), r.a(), r.b()});
  }
  return true;
}

}  // namespace keel::sim
