#include "core/vsr/journal.h"

#include <algorithm>
#include <cstring>
#include <memory>

#include "io/assert.h"
#include "io/checksum.h"
#include "io/little_endian.h"

namespace keel::vsr {
namespace {

using io::load_u64;
using io::store_u64;

constexpr uint64_t sector_size = io::BlockStorage::sector_size_bytes;
constexpr uint64_t slot_prefix_bytes = 16;  // checksum u64, flags u64
constexpr uint64_t flag_has_body = 1;

// A ring sector: the header, a flag (1: the prepare slot held the body when this was written),
// 7 zero bytes, and a checksum of those 72 bytes.
constexpr uint64_t ring_flag_offset = header_size_bytes;
constexpr uint64_t ring_checksum_offset = header_size_bytes + 8;

uint64_t ring_checksum(const uint8_t* sector) {
  return io::checksum(std::span<const uint8_t>(sector, ring_checksum_offset));
}

bool all_zero(const uint8_t* bytes, uint64_t size) {
  return std::all_of(bytes, bytes + size, [](uint8_t byte) { return byte == 0; });
}

std::span<const uint8_t, header_size_bytes> header_bytes(const uint8_t* at) {
  return std::span<const uint8_t, header_size_bytes>(at, header_size_bytes);
}

}  // namespace

Journal::Journal(const Config& config, io::BlockStorage& storage, uint64_t cluster_id)
    : config_(config), storage_(storage), cluster_id_(cluster_id), layout_(config) {
  KEEL_ASSERT(storage_.size_bytes() >= layout_.total_size_bytes);
}

Journal::~Journal() = default;

// --- Encoding ---

std::vector<uint8_t> Journal::take_buffer(uint64_t size_bytes) {
  std::vector<uint8_t> buffer;
  if (!spare_buffers_.empty()) {
    buffer = std::move(spare_buffers_.back());
    spare_buffers_.pop_back();
  }
  buffer.assign(size_bytes, 0);
  return buffer;
}

void Journal::give_back_buffers(Job& job) {
  // Bounded: a few spares cover the jobs that follow, and a checkpoint's buffer (as large as a
  // snapshot) is not kept.
  constexpr size_t spare_buffers_max = 8;
  for (Job::Part& part : job.parts) {
    if (spare_buffers_.size() < spare_buffers_max &&
        part.bytes.capacity() <= layout_.prepare_slot_size_bytes) {
      spare_buffers_.push_back(std::move(part.bytes));
    }
  }
}

std::vector<uint8_t> Journal::encode_ring(const proto::Header& header, bool with_body) {
  std::vector<uint8_t> ring = take_buffer(sector_size);
  encode_header(header, std::span<uint8_t, header_size_bytes>(ring.data(), header_size_bytes));
  ring[ring_flag_offset] = with_body ? 1 : 0;
  store_u64(ring.data() + ring_checksum_offset, ring_checksum(ring.data()));
  return ring;
}

std::vector<uint8_t> Journal::encode_prepare_slot(const proto::Header& header,
                                                  const std::string* body) {
  const uint64_t body_size = body == nullptr ? 0 : body->size();
  KEEL_ASSERT(body == nullptr || body_matches(header, *body));
  KEEL_ASSERT(slot_prefix_bytes + header_size_bytes + body_size <= layout_.prepare_slot_size_bytes);
  std::vector<uint8_t> bytes =
      take_buffer(round_up_to_sector(slot_prefix_bytes + header_size_bytes + body_size));
  store_u64(bytes.data() + 8, body == nullptr ? 0 : flag_has_body);
  encode_header(header, std::span<uint8_t, header_size_bytes>(bytes.data() + slot_prefix_bytes,
                                                              header_size_bytes));
  if (body != nullptr) {
    std::memcpy(bytes.data() + slot_prefix_bytes + header_size_bytes, body->data(), body->size());
  }
  const uint64_t covered = 8 + header_size_bytes + body_size;
  store_u64(bytes.data(), io::checksum(std::span<const uint8_t>(bytes.data() + 8, covered)));
  return bytes;
}

// A prepare slot verifies if its slot checksum covers the flags, the header and (with a body)
// the body, and the header itself verifies.
bool Journal::decode_prepare_slot(const Layout& layout, uint64_t cluster_id, const uint8_t* bytes,
                                  proto::Header& header, bool& has_body) {
  const uint64_t flags = load_u64(bytes + 8);
  if (flags > flag_has_body) return false;
  decode_header(header_bytes(bytes + slot_prefix_bytes), header);
  if (!header_valid(header, cluster_id)) return false;
  has_body = flags == flag_has_body;
  const uint64_t body_size = has_body ? header.body_size() : 0;
  if (slot_prefix_bytes + header_size_bytes + body_size > layout.prepare_slot_size_bytes) {
    return false;
  }
  const uint64_t covered = 8 + header_size_bytes + body_size;
  if (load_u64(bytes) != io::checksum(std::span<const uint8_t>(bytes + 8, covered))) return false;
  if (!has_body) return true;
  const std::string_view body(
      reinterpret_cast<const char*>(bytes + slot_prefix_bytes + header_size_bytes), body_size);
  return body_matches(header, body);
}

void Journal::decode_slot(const Layout& layout, uint64_t cluster_id, const uint8_t* ring_sector,
                          const uint8_t* prepare_slot, bool ring_ok, bool prepare_ok,
                          SlotRead& read) {
  if (!ring_ok) {
    read.ring = Part::garbage;
  } else if (all_zero(ring_sector, sector_size)) {
    read.ring = Part::empty;
  } else {
    decode_header(header_bytes(ring_sector), read.ring_header);
    const uint8_t flag = ring_sector[ring_flag_offset];
    const bool valid =
        header_valid(read.ring_header, cluster_id) && flag <= 1 &&
        all_zero(ring_sector + ring_flag_offset + 1, 7) &&
        load_u64(ring_sector + ring_checksum_offset) == ring_checksum(ring_sector) &&
        all_zero(ring_sector + ring_checksum_offset + 8, sector_size - ring_checksum_offset - 8);
    read.ring = valid ? Part::valid : Part::garbage;
    read.ring_has_body = valid && flag == 1;
  }
  if (!prepare_ok) {
    read.prepare = Part::garbage;
  } else if (all_zero(prepare_slot, sector_size)) {
    read.prepare = Part::empty;
  } else {
    const bool valid = decode_prepare_slot(layout, cluster_id, prepare_slot, read.prepare_header,
                                           read.prepare_has_body);
    read.prepare = valid ? Part::valid : Part::garbage;
  }
}

// --- Start-up reads ---

void Journal::read_all(absl::AnyInvocable<void(std::vector<SlotRead>)> done) {
  KEEL_ASSERT(!read_all_done_);
  read_all_done_ = std::move(done);
  read_all_result_.assign(layout_.wal_slots, SlotRead{});
  read_all_buffer_.assign(sector_size + layout_.prepare_slot_size_bytes, 0);
  read_all_next(0);
}

void Journal::read_all_next(uint64_t slot) {
  if (slot == layout_.wal_slots) {
    read_all_buffer_.clear();
    read_all_buffer_.shrink_to_fit();
    auto done = std::move(read_all_done_);
    read_all_done_ = nullptr;
    done(std::move(read_all_result_));
    return;
  }
  uint8_t* ring = read_all_buffer_.data();
  uint8_t* prepare = ring + sector_size;
  storage_.read(
      layout_.header_offset(slot), std::span<uint8_t>(ring, sector_size),
      [this, slot, ring, prepare](io::IoStatus ring_status) {
        std::fill(prepare, prepare + layout_.prepare_slot_size_bytes, 0);
        read_prepare_slot(slot, prepare, [this, slot, ring, prepare, ring_status](bool prepare_ok) {
          decode_slot(layout_, cluster_id_, ring, prepare, ring_status == io::IoStatus::ok,
                      prepare_ok, read_all_result_[slot]);
          read_all_next(slot + 1);
        });
      });
}

// --- Writes ---

void Journal::write_entry(const proto::Header& header, std::optional<std::string> body,
                          absl::AnyInvocable<void(bool durable)> done) {
  KEEL_ASSERT(header_valid(header, cluster_id_));
  const uint64_t slot = slot_of(header.op());
  Job job;
  job.parts.reserve(2);
  job.parts.push_back(Job::Part{layout_.prepare_offset(slot),
                                encode_prepare_slot(header, body ? &*body : nullptr)});
  const bool with_body = body.has_value();
  job.parts.push_back(Job::Part{layout_.header_offset(slot), encode_ring(header, with_body)});
  job.done = std::move(done);
  enqueue(std::move(job));
}

void Journal::write_ring(const proto::Header& header, absl::AnyInvocable<void(bool durable)> done) {
  KEEL_ASSERT(header_valid(header, cluster_id_));
  Job job;
  job.parts.push_back(
      Job::Part{layout_.header_offset(slot_of(header.op())), encode_ring(header, true)});
  job.done = std::move(done);
  enqueue(std::move(job));
}

void Journal::clear_slot(uint64_t slot, absl::AnyInvocable<void(bool durable)> done) {
  KEEL_ASSERT(slot < layout_.wal_slots);
  Job job;
  job.parts.reserve(2);
  job.parts.push_back(Job::Part{layout_.prepare_offset(slot), take_buffer(sector_size)});
  job.parts.push_back(Job::Part{layout_.header_offset(slot), take_buffer(sector_size)});
  job.done = std::move(done);
  enqueue(std::move(job));
}

void Journal::write_checkpoint(uint32_t area, std::string snapshot,
                               absl::AnyInvocable<void(bool durable)> done) {
  KEEL_ASSERT(snapshot.size() <= layout_.checkpoint_area_size_bytes);
  std::vector<uint8_t> bytes =
      take_buffer(round_up_to_sector(std::max<uint64_t>(snapshot.size(), 1)));
  std::memcpy(bytes.data(), snapshot.data(), snapshot.size());
  Job job;
  job.parts.push_back(Job::Part{layout_.checkpoint_offset(area), std::move(bytes)});
  job.done = std::move(done);
  enqueue(std::move(job));
}

void Journal::enqueue(Job job) {
  // Bounded by the replica: one write per WAL slot and checkpoint area at most, plus clears.
  KEEL_ASSERT(jobs_.size() <= 2 * layout_.wal_slots + layout_.checkpoint_areas);
  jobs_.push_back(std::move(job));
  if (jobs_.size() == 1) run_job();
}

void Journal::run_job() {
  KEEL_ASSERT(!jobs_.empty());
  jobs_.front().attempts++;
  jobs_.front().sync_failed = false;
  write_part(0);
}

void Journal::write_part(size_t part) {
  Job& job = jobs_.front();
  if (part == job.parts.size()) {
    verify_job();
    return;
  }
  const Job::Part& p = job.parts[part];
  storage_.write(p.offset_bytes, p.bytes, [this, part](io::IoStatus) {
    // A failed write shows up in the read-back; sync regardless, so order holds. A failed sync
    // does not: the data reads back from the cache whether or not it reached the medium (and
    // Linux may mark the failed pages clean), so the attempt is written again.
    storage_.sync([this, part](io::IoStatus status) {
      if (status != io::IoStatus::ok) jobs_.front().sync_failed = true;
      write_part(part + 1);
    });
  });
}

void Journal::verify_job() {
  const Job& job = jobs_.front();
  uint64_t total = 0;
  for (const Job::Part& part : job.parts) total += part.bytes.size();
  // Every byte is read into before it is compared: no need to clear it.
  if (verify_buffer_.size() < total) verify_buffer_.resize(total);
  verify_pending_ = job.parts.size();
  verify_intact_ = !job.sync_failed;
  uint64_t at = 0;
  for (size_t i = 0; i < job.parts.size(); i++) {
    const Job::Part& part = job.parts[i];
    std::span<uint8_t> into(verify_buffer_.data() + at, part.bytes.size());
    storage_.read(part.offset_bytes, into,
                  [this, i](io::IoStatus status) { verify_part_done(i, status); });
    at += part.bytes.size();
  }
}

void Journal::verify_part_done(size_t part_index, io::IoStatus status) {
  const Job& job = jobs_.front();
  uint64_t at = 0;
  for (size_t i = 0; i < part_index; i++) at += job.parts[i].bytes.size();
  const Job::Part& part = job.parts[part_index];
  if (status != io::IoStatus::ok ||
      std::memcmp(verify_buffer_.data() + at, part.bytes.data(), part.bytes.size()) != 0) {
    verify_intact_ = false;
  }
  KEEL_ASSERT(verify_pending_ > 0);
  if (--verify_pending_ > 0) return;
  if (verify_intact_) {
    finish_job(true);
  } else if (job.attempts >= write_attempts_max) {
    finish_job(false);
  } else {
    write_retries_++;
    run_job();
  }
}

void Journal::finish_job(bool durable) {
  auto done = std::move(jobs_.front().done);
  give_back_buffers(jobs_.front());
  jobs_.pop_front();
  if (!jobs_.empty()) run_job();
  done(durable);
}

// --- Reads ---

uint64_t Journal::read_prepare_bytes(const Layout& layout, const uint8_t* first_sector) {
  proto::Header header;
  decode_header(header_bytes(first_sector + slot_prefix_bytes), header);
  const bool has_body = load_u64(first_sector + 8) == flag_has_body;
  const uint64_t needed = round_up_to_sector(slot_prefix_bytes + header_size_bytes +
                                             (has_body ? uint64_t{header.body_size()} : 0));
  // All there is, or a size no valid slot has: decoding will say.
  if (needed <= sector_size || needed > layout.prepare_slot_size_bytes) return sector_size;
  return needed;
}

// Reads the first sector, then only as many more as the header it holds says were written:
// the rest of the slot is never written, so a damaged sector there must not spoil the read.
void Journal::read_prepare_slot(uint64_t slot, uint8_t* into, absl::AnyInvocable<void(bool)> done) {
  storage_.read(layout_.prepare_offset(slot), std::span<uint8_t>(into, sector_size),
                [this, slot, into, done = std::move(done)](io::IoStatus status) mutable {
                  if (status != io::IoStatus::ok) {
                    done(false);
                    return;
                  }
                  const uint64_t needed = read_prepare_bytes(layout_, into);
                  if (needed == sector_size) {
                    done(true);
                    return;
                  }
                  storage_.read(layout_.prepare_offset(slot) + sector_size,
                                std::span<uint8_t>(into + sector_size, needed - sector_size),
                                [done = std::move(done)](io::IoStatus rest) mutable {
                                  done(rest == io::IoStatus::ok);
                                });
                });
}

void Journal::read_prepare(uint64_t slot, absl::AnyInvocable<void(PrepareRead)> done) {
  auto buffer = std::make_unique<std::vector<uint8_t>>(layout_.prepare_slot_size_bytes);
  uint8_t* into = buffer->data();
  read_prepare_slot(
      slot, into, [this, buffer = std::move(buffer), done = std::move(done)](bool ok) mutable {
        PrepareRead read;
        bool has_body = false;
        if (ok &&
            decode_prepare_slot(layout_, cluster_id_, buffer->data(), read.header, has_body) &&
            has_body) {
          read.ok = true;
          read.body.assign(
              reinterpret_cast<const char*>(buffer->data() + slot_prefix_bytes + header_size_bytes),
              read.header.body_size());
        }
        done(std::move(read));
      });
}

void Journal::verify_slot(const proto::Header& header, bool has_body,
                          absl::AnyInvocable<void(SlotCheck)> done) {
  KEEL_ASSERT(!verify_slot_reading_);
  verify_slot_reading_ = true;
  const uint64_t slot = slot_of(header.op());
  // Every byte compared is read into first: no need to clear it.
  verify_slot_buffer_.resize(sector_size + layout_.prepare_slot_size_bytes);
  uint8_t* ring = verify_slot_buffer_.data();
  uint8_t* prepare = ring + sector_size;
  storage_.read(layout_.header_offset(slot), std::span<uint8_t>(ring, sector_size),
                [this, slot, ring, prepare, header, has_body,
                 done = std::move(done)](io::IoStatus ring_status) mutable {
                  read_prepare_slot(
                      slot, prepare,
                      [this, ring, prepare, ring_status, header, has_body,
                       done = std::move(done)](bool prepare_ok) mutable {
                        SlotRead read;
                        decode_slot(layout_, cluster_id_, ring, prepare,
                                    ring_status == io::IoStatus::ok, prepare_ok, read);
                        SlotCheck check;
                        check.ring_intact = read.ring == Part::valid &&
                                            read.ring_header.checksum() == header.checksum() &&
                                            read.ring_has_body == has_body;
                        check.prepare_intact =
                            read.prepare == Part::valid &&
                            read.prepare_header.checksum() == header.checksum() &&
                            read.prepare_has_body == has_body;
                        KEEL_ASSERT(verify_slot_reading_);
                        verify_slot_reading_ = false;
                        done(check);
                      });
                });
}

void Journal::read_checkpoint(uint32_t area, uint64_t offset_bytes, uint64_t size_bytes,
                              absl::AnyInvocable<void(std::optional<std::string>)> done) {
  KEEL_ASSERT(offset_bytes + size_bytes <= layout_.checkpoint_area_size_bytes);
  const uint64_t first = offset_bytes / sector_size * sector_size;
  const uint64_t end = round_up_to_sector(offset_bytes + size_bytes);
  auto buffer =
      std::make_unique<std::vector<uint8_t>>(std::max<uint64_t>(end - first, sector_size));
  std::span<uint8_t> into(*buffer);
  storage_.read(
      layout_.checkpoint_offset(area) + first, into,
      [buffer = std::move(buffer), skip = offset_bytes - first, size_bytes,
       done = std::move(done)](io::IoStatus status) mutable {
        if (status != io::IoStatus::ok) {
          done(std::nullopt);
          return;
        }
        done(std::string(reinterpret_cast<const char*>(buffer->data() + skip), size_bytes));
      });
}

}  // namespace keel::vsr
