#pragma once
// The promises a VSR replica's messages make about its own disk, checked by the simulator at
// the moment each message is sent, against what the simulated disk holds durably (docs/vsr.md,
// "Crash and restart"): a do_view_change is a vote for its view, a start_view announces a log
// view, and a prepare_ok says its sender holds the entry durably in the view it names. The check
// reads the disk image, not the replica's memory, so a bug that sends a promise before it is
// durable is caught at the send, in every run that sends one, and not only in the rare runs
// where a crash then lands in the window and the cluster's history happens to show it.

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "absl/functional/function_ref.h"
#include "core/vsr/config.h"
#include "core/vsr/header.h"
#include "core/vsr/messages.pb.h"
#include "core/vsr/superblock.pb.h"

namespace keel::sim {

// A replica's disk as a crash would leave it: the durable bytes, and which sectors hold
// something other than what was written there (damaged or misdirected since): a promise about
// those cannot be judged from the bytes, and is not.
struct DurableImage {
  std::span<const uint8_t> bytes;
  absl::FunctionRef<bool(uint64_t sector)> faulty;
  uint64_t wipes = 0;  // how often the disk was wiped so far: a wipe voids every promise
};

// Also checks that promises hold across restarts: once a replica sent one of these messages in
// view v, it never sends one in an older view (a restart that read back an older view than it
// had made durable would), unless its disk was wiped since (it then recovers from the others).
class VsrPromiseAudit {
 public:
  VsrPromiseAudit(const vsr::Config& config, uint64_t cluster_id);

  // The superblock state a restart would trust: the newest intact copy of this replica's.
  std::optional<vsr::proto::SuperblockState> durable_state(uint32_t replica,
                                                           const DurableImage& image) const;

  // What the message breaks, if anything, judged on image, the sender's disk. commit_min is the
  // sender's, as it sends: an acknowledgement of an op it has applied promises nothing about the
  // op's slot (the op may have come by state transfer).
  std::optional<std::string> audit(uint32_t replica, uint16_t kind, std::span<const uint8_t> body,
                                   uint64_t commit_min, const DurableImage& image);
  // A primary counted itself among the holders of op (checksum) in view: what that breaks, if
  // anything. Its count of itself is the acknowledgement it never sends.
  std::optional<std::string> audit_own_hold(uint32_t replica, uint64_t view, uint64_t op,
                                            uint64_t checksum, uint64_t commit_min,
                                            const DurableImage& image) const;

 private:
  // The newest view a replica has sent a promise in, and by which message.
  struct Promised {
    uint64_t view = 0;
    const char* message = "";
    uint64_t wipes = 0;
  };

  std::optional<std::string> audit_prepare_ok(uint32_t replica, const vsr::proto::PrepareOk& ok,
                                              const DurableImage& image, uint64_t commit_min) const;
  // Whether a message in view goes back on one sent in a newer view; remembers it if not.
  std::optional<std::string> view_taken_back(uint32_t replica, const char* message, uint64_t view,
                                             uint64_t wipes);
  // "" if the slot of op holds the entry checksum durably, ring header and body, else why not.
  // parent: the entry's parent checksum, or 0 where the slot was damaged since and says nothing
  // (then "" too).
  std::string entry_not_durable(uint64_t op, uint64_t checksum, const DurableImage& image,
                                uint64_t& parent) const;
  // Whether the durable view (or log view) reaches view: what the message did, and what a
  // restart would do if it did not.
  std::optional<std::string> view_not_durable(uint32_t replica, const DurableImage& image,
                                              uint64_t view, bool log_view, std::string_view what,
                                              std::string_view consequence) const;
  bool any_faulty(const DurableImage& image, uint64_t offset_bytes, uint64_t size_bytes) const;

  const vsr::Layout layout_;
  const uint64_t cluster_id_;
  std::vector<Promised> promised_;  // by replica
};

}  // namespace keel::sim
