#include "sim/vsr_promises.h"

#include <fmt/format.h>

#include <algorithm>

#include "core/vsr/journal.h"
#include "core/vsr/messages.pb.h"
#include "core/vsr/superblock.h"
#include "core/vsr/wire.h"
#include "io/assert.h"
#include "io/storage.h"

namespace keel::sim {
namespace {

constexpr uint64_t sector_size = io::BlockStorage::sector_size_bytes;

}  // namespace

VsrPromiseAudit::VsrPromiseAudit(const vsr::Config& config, uint64_t cluster_id)
    : layout_(config), cluster_id_(cluster_id), promised_(config.replica_count) {}

bool VsrPromiseAudit::any_faulty(const DurableImage& image, uint64_t offset_bytes,
                                 uint64_t size_bytes) const {
  KEEL_ASSERT(offset_bytes % sector_size == 0 && size_bytes % sector_size == 0);
  KEEL_ASSERT(offset_bytes + size_bytes <= image.bytes.size());
  for (uint64_t sector = offset_bytes / sector_size;
       sector < (offset_bytes + size_bytes) / sector_size; sector++) {
    if (image.faulty(sector)) return true;
  }
  return false;
}

std::optional<vsr::proto::SuperblockState> VsrPromiseAudit::durable_state(
    uint32_t replica, const DurableImage& image) const {
  KEEL_ASSERT(image.bytes.size() >= layout_.total_size_bytes);
  std::optional<vsr::proto::SuperblockState> newest;
  uint64_t newest_sequence = 0;
  for (uint32_t copy = 0; copy < vsr::Superblock::copies; copy++) {
    const uint64_t offset = layout_.superblock_offset_bytes + copy * sector_size;
    if (image.faulty(offset / sector_size)) continue;
    vsr::Superblock::Copy decoded =
        vsr::Superblock::decode_copy(image.bytes.subspan(offset, sector_size), copy);
    if (decoded.status != vsr::Superblock::CopyStatus::current) continue;
    if (decoded.state.cluster_id() != cluster_id_ || decoded.state.replica() != replica) continue;
    if (newest && decoded.sequence <= newest_sequence) continue;
    newest_sequence = decoded.sequence;
    newest = std::move(decoded.state);
  }
  return newest;
}

std::string VsrPromiseAudit::entry_not_durable(uint64_t op, uint64_t checksum,
                                               const DurableImage& image, uint64_t& parent) const {
  parent = 0;
  const uint64_t slot = op % layout_.wal_slots;
  const uint64_t ring_offset = layout_.header_offset(slot);
  const uint64_t prepare_offset = layout_.prepare_offset(slot);
  if (any_faulty(image, ring_offset, sector_size) ||
      any_faulty(image, prepare_offset, layout_.prepare_slot_size_bytes)) {
    return "";  // damaged since: the bytes say nothing of what was written
  }
  const uint8_t* ring = image.bytes.data() + ring_offset;
  const uint8_t* prepare = image.bytes.data() + prepare_offset;
  vsr::Journal::SlotRead read;
  vsr::Journal::decode_slot(layout_, cluster_id_, ring, prepare, true, true, read);
  using Part = vsr::Journal::Part;
  if (read.prepare != Part::valid || read.prepare_header.op() != op ||
      read.prepare_header.checksum() != checksum) {
    return fmt::format("its prepare slot {} holds {}", slot,
                       read.prepare == Part::valid
                           ? fmt::format("op {} ({:016x})", read.prepare_header.op(),
                                         read.prepare_header.checksum())
                           : std::string(read.prepare == Part::empty ? "nothing" : "garbage"));
  }
  if (!read.prepare_has_body) return fmt::format("its prepare slot {} holds the header only", slot);
  if (read.ring != Part::valid || read.ring_header.checksum() != checksum) {
    return fmt::format("its ring slot {} does not name it", slot);
  }
  parent = read.prepare_header.parent();
  return "";
}

std::optional<std::string> VsrPromiseAudit::audit_own_hold(uint32_t replica, uint64_t view,
                                                           uint64_t op, uint64_t checksum,
                                                           uint64_t commit_min,
                                                           const DurableImage& image) const {
  vsr::proto::PrepareOk own;
  own.set_view(view);
  own.set_op(op);
  own.set_checksum(checksum);
  own.set_replica(replica);
  std::optional<std::string> broken = audit_prepare_ok(replica, own, image, commit_min);
  if (broken) return "as a primary counting itself, " + std::move(*broken);
  return std::nullopt;
}

std::optional<std::string> VsrPromiseAudit::audit_prepare_ok(uint32_t replica,
                                                             const vsr::proto::PrepareOk& ok,
                                                             const DurableImage& image,
                                                             uint64_t commit_min) const {
  const std::optional<vsr::proto::SuperblockState> state = durable_state(replica, image);
  if (!state || state->log_view() < ok.view()) {
    return fmt::format(
        "replica {} acknowledged op {} in view {} with log view {} durable: a restart would "
        "take it back to an older log",
        replica, ok.op(), ok.view(), state ? fmt::format("{}", state->log_view()) : "none");
  }
  // Acknowledgements are cumulative: every op after the sender's commit, up to the one named,
  // is durable in its slot, each the parent its successor names.
  // A slot damaged since ends the walk: its parent is not known.
  uint64_t checksum = ok.checksum();
  const uint64_t wrapped = ok.op() > layout_.wal_slots ? ok.op() - layout_.wal_slots : 0;
  for (uint64_t op = ok.op(); op > std::max(commit_min, wrapped) && checksum != 0; op--) {
    uint64_t parent = 0;
    const std::string why = entry_not_durable(op, checksum, image, parent);
    if (!why.empty()) {
      return fmt::format(
          "replica {} acknowledged op {} ({:016x}) in view {}, so op {} ({:016x}) with it, but "
          "{}",
          replica, ok.op(), ok.checksum(), ok.view(), op, checksum, why);
    }
    checksum = parent;
  }
  return std::nullopt;
}

std::optional<std::string> VsrPromiseAudit::audit(uint32_t replica, uint16_t kind,
                                                  std::span<const uint8_t> body,
                                                  uint64_t commit_min, const DurableImage& image) {
  KEEL_ASSERT(replica < promised_.size());
  std::optional<std::string> broken;
  uint64_t view = 0;
  const char* message = "";
  switch (static_cast<vsr::Kind>(kind)) {
    case vsr::Kind::prepare_ok: {
      vsr::proto::PrepareOk ok;
      if (!vsr::parse_message(body, ok)) return "a prepare_ok that does not parse";
      view = ok.view();
      message = "prepare_ok";
      broken = audit_prepare_ok(replica, ok, image, commit_min);
      break;
    }
    case vsr::Kind::do_view_change: {
      vsr::proto::DoViewChange dvc;
      if (!vsr::parse_message(body, dvc)) return "a do_view_change that does not parse";
      view = dvc.view();
      message = "do_view_change";
      broken = view_not_durable(replica, image, view, false, "voted (do_view_change)",
                                "take the vote back");
      break;
    }
    case vsr::Kind::start_view: {
      vsr::proto::StartView start;
      if (!vsr::parse_message(body, start)) return "a start_view that does not parse";
      view = start.view();
      message = "start_view";
      broken = view_not_durable(replica, image, view, true, "announced the view (start_view)",
                                "forget the log it announced");
      break;
    }
    default:
      return std::nullopt;
  }
  if (broken) return broken;
  return view_taken_back(replica, message, view, image.wipes);
}

std::optional<std::string> VsrPromiseAudit::view_taken_back(uint32_t replica, const char* message,
                                                            uint64_t view, uint64_t wipes) {
  Promised& promised = promised_[replica];
  if (promised.wipes != wipes) promised = Promised{0, "", wipes};
  if (view < promised.view) {
    return fmt::format(
        "replica {} sent a {} in view {} after a {} in view {}: it went back on a promise (a "
        "restart that lost or misread its superblock?)",
        replica, message, view, promised.message, promised.view);
  }
  promised.view = view;
  promised.message = message;
  return std::nullopt;
}

std::optional<std::string> VsrPromiseAudit::view_not_durable(uint32_t replica,
                                                             const DurableImage& image,
                                                             uint64_t view, bool log_view,
                                                             std::string_view what,
                                                             std::string_view consequence) const {
  const std::optional<vsr::proto::SuperblockState> state = durable_state(replica, image);
  const std::optional<uint64_t> durable =
      state ? std::optional<uint64_t>(log_view ? state->log_view() : state->view()) : std::nullopt;
  if (durable && *durable >= view) return std::nullopt;
  return fmt::format("replica {} {} for view {} with {} {} durable: a restart would {}", replica,
                     what, view, log_view ? "log view" : "view",
                     durable ? fmt::format("{}", *durable) : std::string("none"), consequence);
}

}  // namespace keel::sim
