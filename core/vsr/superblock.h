#pragma once
// The superblock: the few numbers a VSR replica must never forget (view, log view, commit
// number, checkpoint), kept in four copies at the start of the data file.
//
// Each copy is one 4096-byte sector: [checksum u64][sequence u64][slot u8][7 zero bytes]
// [body size u32][body: SuperblockState]. The checksum is XXH3-64 over the rest of the sector.
//
// Write rule: a new state gets sequence + 1 and is written to copies 0 and 1, synced, then to
// copies 2 and 3, synced. The update is durable when the second sync completes, and not before.
// A crash tears or loses at most the half in flight: the other half holds the old state (first
// half in flight) or the new one (second half), so no crash loses the superblock. (Written all
// at once with one sync, a crash could tear all four, and a replica that crashed while voting
// lost its superblock and had to recover from peers that might be waiting for its log;
// superblock_test shows it with a state that fills the sector.)
//
// Read rule: a copy counts only if its checksum is right, it sits in the slot it names (else a
// misdirected write put it there), and it names this cluster and replica. The copy with the
// highest sequence wins; no number of copies has to agree. This is safe because sequences only
// grow: a torn copy fails its checksum, a misdirected copy fails its slot, and a stale copy (the
// target of a misdirected write, or one a crash did not reach) has a lower sequence than the
// newest one written. Any copy left behind is rewritten by the next update. With no copy that
// counts, the superblock is lost, and the replica must recover from its peers.

#include <array>
#include <cstdint>
#include <span>
#include <vector>

#include "core/vsr/superblock.pb.h"
#include "io/storage.h"

namespace keel::vsr {

class Superblock {
 public:
  static constexpr uint32_t copies = 4;
  static constexpr uint64_t zone_size_bytes = copies * io::BlockStorage::sector_size_bytes;

  enum class CopyStatus : uint8_t {
    current,      // counts, and holds the winning sequence
    stale,        // counts, with an older sequence
    empty,        // all zeros: never written
    unreadable,   // the read failed (a latent sector error)
    corrupt,      // bad checksum or body: torn, or damaged
    misdirected,  // a valid copy of another slot
    foreign,      // a valid copy for another cluster or replica
  };

  struct OpenResult {
    bool found = false;  // false: no copy counts (never formatted, or lost)
    uint64_t sequence = 0;
    std::array<CopyStatus, copies> status{};
  };

  // One copy as read, for the read rule below and for offline tools.
  struct Copy {
    CopyStatus status = CopyStatus::empty;
    uint64_t sequence = 0;         // set where the copy decodes (current, stale, foreign)
    proto::SuperblockState state;  // likewise
  };
  // Decodes the copy read from slot's sector: empty, corrupt, misdirected, or current if it
  // verifies (whose it is, and whether it is the newest, is for resolve() to say).
  static Copy decode_copy(std::span<const uint8_t> sector, uint32_t slot);
  // The read rule over the decoded copies: a copy of another cluster or replica is foreign, a
  // current copy older than the newest is stale. Returns the winning slot, or copies if no copy
  // counts.
  static uint32_t resolve(std::array<Copy, copies>& decoded, uint64_t cluster_id, uint32_t replica);
  // Offline (`keel dump-superblock`): decodes and resolves a whole zone whose owner is not
  // known beforehand: the owner is the one the newest verifying copy names.
  static uint32_t inspect(std::span<const uint8_t, zone_size_bytes> zone,
                          std::array<Copy, copies>& decoded);

  // The storage must hold the zone at zone_offset_bytes.
  Superblock(io::BlockStorage& storage, uint64_t zone_offset_bytes, uint64_t cluster_id,
             uint32_t replica);

  // The four copies of a freshly formatted replica, sequence 1, to write before first start.
  static std::vector<uint8_t> format(const proto::SuperblockState& state);

  // Reads and classifies the copies. Nothing else may run on this object meanwhile.
  void open(absl::AnyInvocable<void(const OpenResult&)> done);
  // Writes state as the next sequence; done(true) once durable, done(false) if the device
  // reported an error. One write at a time.
  void write(const proto::SuperblockState& state, absl::AnyInvocable<void(bool durable)> done);

  const proto::SuperblockState& state() const { return state_; }
  uint64_t sequence() const { return sequence_; }
  bool busy() const { return busy_; }

 private:
  static void encode_copy(const proto::SuperblockState& state, uint64_t sequence, uint8_t slot,
                          uint8_t* sector);
  void read_copy(uint32_t slot);
  void write_copy(uint32_t slot, absl::AnyInvocable<void(bool durable)> done, bool ok_so_far);
  void finish_open();

  io::BlockStorage& storage_;
  const uint64_t zone_offset_bytes_;
  const uint64_t cluster_id_;
  const uint32_t replica_;
  proto::SuperblockState state_;
  uint64_t sequence_ = 0;
  bool busy_ = false;
  std::vector<uint8_t> buffer_;  // the four sectors being read or written
  std::array<io::IoStatus, copies> read_status_{};
  uint32_t reads_pending_ = 0;
  absl::AnyInvocable<void(const OpenResult&)> open_done_;
};

const char* copy_status_name(Superblock::CopyStatus status);

}  // namespace keel::vsr
