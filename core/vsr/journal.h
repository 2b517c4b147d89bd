#pragma once
// The replica's disk, below the protocol: the WAL (a ring of prepare slots plus a ring of
// redundant headers, one per slot) and the checkpoint areas. The replica decides what to write;
// the journal writes it so that the recovery rules in docs/vsr.md hold:
//
// - A slot is written prepare first, synced, then its ring header, synced, then both are read
//   back and compared. Only then is the write reported durable (and may the op be
//   acknowledged). So a readable ring header that does not name op k with checksum c proves this
//   replica never acknowledged (k, c): a torn or lost write never reached the ring, and a
//   misdirected one is caught by the read-back and redone.
// - A prepare slot may hold a header without its body (a log entry learned in a view change
//   whose body must still be fetched), so that prepare slot and ring always agree on the entry.
//
// Writes run one at a time, in order; reads run at once.

#include <cstdint>
#include <deque>
#include <optional>
#include <string>
#include <vector>

#include "absl/functional/any_invocable.h"
#include "core/vsr/header.h"
#include "io/storage.h"

namespace keel::vsr {

class Journal {
 public:
  enum class Part : uint8_t { empty, valid, garbage };

  struct SlotRead {
    Part ring = Part::empty;
    proto::Header ring_header;
    bool ring_has_body = false;  // the entry was written with its body
    Part prepare = Part::empty;
    proto::Header prepare_header;
    bool prepare_has_body = false;
  };

  // A prepare read back from its slot; ok only if the slot verifies and holds a body.
  struct PrepareRead {
    bool ok = false;
    proto::Header header;
    std::string body;
  };

  static constexpr uint32_t write_attempts_max = 8;

  Journal(const Config& config, io::BlockStorage& storage, uint64_t cluster_id);
  ~Journal();

  const Layout& layout() const { return layout_; }
  uint64_t slot_of(uint64_t op) const { return op % layout_.wal_slots; }

  // Start-up: reads and classifies the ring sector and the prepare slot of every slot.
  void read_all(absl::AnyInvocable<void(std::vector<SlotRead>)> done);
  // Writes an entry to its slot: with its body, or (body nullopt) the header alone.
  void write_entry(const proto::Header& header, std::optional<std::string> body,
                   absl::AnyInvocable<void(bool durable)> done);
  // Writes only the ring header of an entry whose prepare slot already holds it with its body.
  void write_ring(const proto::Header& header, absl::AnyInvocable<void(bool durable)> done);
  // Zeroes a slot's ring sector and prepare slot (a damaged slot that holds nothing of the log).
  void clear_slot(uint64_t slot, absl::AnyInvocable<void(bool durable)> done);
  void read_prepare(uint64_t slot, absl::AnyInvocable<void(PrepareRead)> done);
  // The scrubber's check of one slot: does each part still hold exactly this entry? One at a
  // time: its buffer is reused.
  struct SlotCheck {
    bool ring_intact = false;
    bool prepare_intact = false;
  };
  void verify_slot(const proto::Header& header, bool has_body,
                   absl::AnyInvocable<void(SlotCheck)> done);

  void write_checkpoint(uint32_t area, std::string snapshot,
                        absl::AnyInvocable<void(bool durable)> done);
  // Reads size_bytes of an area; done(nullopt) if the device failed.
  void read_checkpoint(uint32_t area, uint64_t offset_bytes, uint64_t size_bytes,
                       absl::AnyInvocable<void(std::optional<std::string>)> done);

  bool writing() const { return !jobs_.empty(); }

  // Pure decoding, shared with the offline tools (core/vsr/data_file.h).
  // Classifies a slot's ring sector and prepare slot (the bytes read_prepare_bytes() says);
  // a part whose read failed (ring_ok, prepare_ok false) is garbage.
  static void decode_slot(const Layout& layout, uint64_t cluster_id, const uint8_t* ring_sector,
                          const uint8_t* prepare_slot, bool ring_ok, bool prepare_ok,
                          SlotRead& read);
  // How much of a prepare slot to read, given its first sector: the sectors its header says
  // were written, or one sector where that is all there is or the size is one no valid slot has.
  static uint64_t read_prepare_bytes(const Layout& layout, const uint8_t* first_sector);
  uint64_t write_retries() const { return write_retries_; }

 private:
  struct Job {
    // Each part is written, synced, then the next; then all are read back.
    struct Part {
      uint64_t offset_bytes;
      std::vector<uint8_t> bytes;
    };
    std::vector<Part> parts;
    absl::AnyInvocable<void(bool durable)> done;
    uint32_t attempts = 0;
    bool sync_failed = false;  // this attempt: its data is not known durable, however it reads
  };

  std::vector<uint8_t> encode_prepare_slot(const proto::Header& header, const std::string* body);
  std::vector<uint8_t> encode_ring(const proto::Header& header, bool with_body);
  // Write buffers are reused: a WAL write is at least a sector, and allocating and freeing one
  // per write was a large part of its cost. Returns size_bytes zeroes.
  std::vector<uint8_t> take_buffer(uint64_t size_bytes);
  void give_back_buffers(Job& job);
  static bool decode_prepare_slot(const Layout& layout, uint64_t cluster_id, const uint8_t* bytes,
                                  proto::Header& header, bool& has_body);
  void enqueue(Job job);
  void run_job();
  void write_part(size_t part);
  void verify_job();
  void verify_part_done(size_t part, io::IoStatus status);
  void finish_job(bool durable);
  void read_all_next(uint64_t slot);
  void read_prepare_slot(uint64_t slot, uint8_t* into, absl::AnyInvocable<void(bool ok)> done);

  const Config config_;
  io::BlockStorage& storage_;
  const uint64_t cluster_id_;
  const Layout layout_;
  std::deque<Job> jobs_;
  std::vector<uint8_t> verify_buffer_;
  size_t verify_pending_ = 0;  // read-backs of the front job still running
  bool verify_intact_ = true;
  std::vector<std::vector<uint8_t>> spare_buffers_;
  std::vector<uint8_t> verify_slot_buffer_;  // a ring sector and a prepare slot
  bool verify_slot_reading_ = false;
  uint64_t write_retries_ = 0;
  // Start-up reads, one slot at a time.
  std::vector<SlotRead> read_all_result_;
  std::vector<uint8_t> read_all_buffer_;
  absl::AnyInvocable<void(std::vector<SlotRead>)> read_all_done_;
};

}  // namespace keel::vsr
