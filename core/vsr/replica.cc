#include "core/vsr/replica.h"

#include <algorithm>

#include "core/vsr/data_file.h"
#include "core/vsr/replica_impl.h"
#include "io/assert.h"
#include "io/checksum.h"

namespace keel::vsr {
namespace {

constexpr uint64_t sector_size = io::BlockStorage::sector_size_bytes;

}  // namespace

const char* replica_event_name(ReplicaEvent event) {
  switch (event) {
    case ReplicaEvent::view_change_started:
      return "view_changes_started";
    case ReplicaEvent::view_started:
      return "views_started";
    case ReplicaEvent::restarted:
      return "restarts";
    case ReplicaEvent::superblock_repaired:
      return "superblock_repairs";
    case ReplicaEvent::recovery_started:
      return "recoveries_started";
    case ReplicaEvent::recovery_completed:
      return "recoveries_completed";
    case ReplicaEvent::wal_slot_faulty:
      return "wal_slots_faulty_at_start";
    case ReplicaEvent::wal_torn_head:
      return "wal_torn_heads";
    case ReplicaEvent::header_repaired:
      return "header_repairs";
    case ReplicaEvent::prepare_repaired:
      return "prepare_repairs";
    case ReplicaEvent::truncated_by_nacks:
      return "truncations_by_nacks";
    case ReplicaEvent::checkpoint_written:
      return "checkpoints";
    case ReplicaEvent::checkpoint_fallback:
      return "checkpoint_fallbacks";
    case ReplicaEvent::state_transfer_started:
      return "state_transfers_started";
    case ReplicaEvent::state_transfer_completed:
      return "state_transfers";
    case ReplicaEvent::scrub_repair:
      return "scrub_repairs";
    case ReplicaEvent::clock_rejected:
      return "clock_rejections";
    case ReplicaEvent::client_evicted:
      return "client_evictions";
    case ReplicaEvent::write_verify_retry:
      return "write_verify_retries";
    case ReplicaEvent::view_change_voted:
      return "view_change_votes";
    case ReplicaEvent::count_:
      break;
  }
  return "unknown";
}

// --- Public surface ---

Replica::Replica(const Config& config, io::Env env, uint32_t replica, StateMachine& state_machine,
                 ReplicaObserver* observer)
    : impl_(std::make_unique<Impl>(config, env, replica, state_machine, observer)) {
  impl_->start();
}

Replica::~Replica() = default;

uint64_t Replica::storage_size_bytes(const Config& config) {
  return Layout(config).total_size_bytes;
}

std::vector<uint8_t> Replica::format(const Config& config, uint64_t cluster_id, uint32_t replica) {
  KEEL_ASSERT(config.validate().empty());
  KEEL_ASSERT(replica < config.replica_count);
  proto::SuperblockState state;
  state.set_cluster_id(cluster_id);
  state.set_replica(replica);
  state.set_replica_count(config.replica_count);
  *state.mutable_data_file() = data_file_config(config);
  proto::CheckpointId* root = state.add_checkpoints();
  root->set_op(0);
  root->set_snapshot_size_bytes(0);
  root->set_header_checksum(root_header(cluster_id).checksum());
  return Superblock::format(state);
}

uint64_t Replica::fault_domain(const Config& config, uint64_t sector) {
  const Layout layout(config);
  const uint64_t offset = sector * sector_size;
  if (offset < layout.headers_offset_bytes) return sector;  // each superblock copy
  const uint64_t copies = Superblock::copies;
  if (offset < layout.prepares_offset_bytes) {
    return copies + (offset - layout.headers_offset_bytes) / sector_size;
  }
  if (offset < layout.checkpoints_offset_bytes) {
    return copies + (offset - layout.prepares_offset_bytes) / layout.prepare_slot_size_bytes;
  }
  return copies + layout.wal_slots +
         (offset - layout.checkpoints_offset_bytes) / layout.checkpoint_area_size_bytes;
}

Status Replica::status() const { return impl_->status; }
uint64_t Replica::view() const { return impl_->view; }
uint64_t Replica::log_view() const { return impl_->log_view; }
uint64_t Replica::op() const { return impl_->op; }
uint64_t Replica::commit_min() const { return impl_->commit_min; }
uint64_t Replica::commit_max() const { return impl_->commit_max; }
bool Replica::primary() const { return impl_->is_primary(); }
uint64_t Replica::state_checksum() const { return impl_->replicated_checksum(); }
bool Replica::clock_synchronized() const { return impl_->clock_sync.synchronized(); }

uint32_t Replica::prepare_ok_votes() const {
  if (!impl_->is_primary()) return 0;
  return static_cast<uint32_t>(
      std::count_if(impl_->acked_op.begin(), impl_->acked_op.end(),
                    [this](uint64_t acked) { return acked >= impl_->op; }));
}

bool Replica::request_view_change() {
  Impl& impl = *impl_;
  if (impl.status != Status::normal || !impl.starting_done || impl.installing) return false;
  impl.debug("view change requested by the operator");
  impl.start_view_change(impl.view + 1, true);
  return true;
}

bool Replica::idle() const {
  const Impl& r = *impl_;
  if (r.status != Status::normal || r.committing || r.checkpointing || r.transfer.active) {
    return false;
  }
  if (r.journal.writing() || r.persisting || r.commit_min != r.commit_max) return false;
  return r.pipeline.empty() && r.request_queue.empty() && r.op == r.commit_max;
}

// --- Construction and start-up ---

Replica::Impl::Impl(const Config& config_in, io::Env env_in, uint32_t replica,
                    StateMachine& state_machine_in, ReplicaObserver* observer_in)
    : config(config_in),
      env(env_in),
      self(replica),
      replica_count(config_in.replica_count),
      quorum(config_in.replica_count / 2 + 1),
      state_machine(state_machine_in),
      observer(observer_in),
      journal(config_in, *env_in.storage, env_in.cluster_id),
      // An op is committed within about a pipeline of being written, unless the replica lags.
      body_cache(2 * config_in.pipeline_max),
      superblock(*env_in.storage, 0, env_in.cluster_id, replica),
      clock_sync(config_in, replica),
      root(root_header(env_in.cluster_id)) {
  KEEL_ASSERT(config.validate().empty());
  KEEL_ASSERT(self < replica_count);
  KEEL_ASSERT(env.storage != nullptr);
  log.assign(config.wal_slots, LogEntry{});
  ring.assign(config.wal_slots, RingState{});
  acked_op.assign(replica_count, 0);
  peer_checkpoint_op.assign(replica_count, 0);
  start_view_change_from.assign(replica_count, false);
  env.bus.set_receiver([this](io::NodeId from, uint16_t kind, std::span<const uint8_t> body) {
    receive(from, kind, body);
  });
}

Replica::Impl::~Impl() {
  if (tick_timer != io::timer_id_none) env.timers.cancel(tick_timer);
  if (batch_timer != io::timer_id_none) env.timers.cancel(batch_timer);
  env.bus.set_receiver(nullptr);
}

void Replica::Impl::start() {
  superblock.open([this](const Superblock::OpenResult& result) { on_superblock_opened(result); });
}

void Replica::Impl::on_superblock_opened(const Superblock::OpenResult& result) {
  schedule_tick();
  if (!result.found) {
    start_recovery();
    return;
  }
  const proto::SuperblockState& state = superblock.state();
  KEEL_ASSERT(state.replica() == self);
  if (state.replica_count() != replica_count) {
    // A configuration that disagrees with the data file: refuse to run rather than guess.
    KEEL_ASSERT(false && "replica_count differs from the data file's");
  }
  // Likewise a layout that disagrees. Whatever starts a replica on a real file must check
  // layout_mismatch() first and say why it refuses; this is the backstop.
  KEEL_ASSERT(layout_mismatch(state, config).empty());
  view = state.view();
  log_view = state.log_view();
  log_view_op = state.log_view_op();
  log_view_head_checksum = state.log_view_head_checksum();
  commit_max = state.commit_number();
  commit_max_checksum = state.commit_checksum();
  nack_floor_op = state.nack_floor_op();
  checkpoints.assign(state.checkpoints().begin(), state.checkpoints().end());
  KEEL_ASSERT(!checkpoints.empty());
  KEEL_ASSERT(log_view <= view);
  event(ReplicaEvent::restarted);
  const bool every_copy_current = std::all_of(
      result.status.begin(), result.status.end(),
      [](Superblock::CopyStatus copy) { return copy == Superblock::CopyStatus::current; });
  if (every_copy_current) {
    load_checkpoint(0);
    return;
  }
  // The state may stand on one copy (a crash in the middle of a write): by the write rule it is
  // not durable yet, and one damaged sector would take a restart back to the older state. So it
  // is rewritten to every copy before the replica acts on it (seed 9293 with a bit flip: a
  // replica acknowledged in view 24 while only copy 0 held log view 24; the sector was damaged,
  // and a restart would have read log view 23).
  event(ReplicaEvent::superblock_repaired);
  persist([this] { load_checkpoint(0); });
}

// Restores the newest retained checkpoint that reads back intact; older ones are a fallback.
void Replica::Impl::load_checkpoint(size_t index) {
  if (index == checkpoints.size()) {
    // None is readable: the state must come from a peer. Until then nothing can be applied.
    const proto::CheckpointId& newest = checkpoints.front();
    commit_min = newest.op();
    commit_min_checksum = newest.header_checksum();
    last_timestamp_ns = newest.timestamp_ns();
    applied_timestamp_ns = newest.timestamp_ns();
    state_loaded = false;
    journal.read_all(
        [this](std::vector<Journal::SlotRead> slots) { on_journal_read(std::move(slots)); });
    return;
  }
  const proto::CheckpointId id = checkpoints[index];
  const auto restore = [this, index, id](std::optional<std::string> snapshot) {
    const bool intact = id.snapshot_size_bytes() == 0 ||
                        (snapshot && body_checksum(*snapshot) == id.snapshot_checksum() &&
                         restore_snapshot(*snapshot));
    if (!intact) {
      load_checkpoint(index + 1);
      return;
    }
    if (index > 0) event(ReplicaEvent::checkpoint_fallback);
    commit_min = id.op();
    commit_min_checksum = id.header_checksum();
    last_timestamp_ns = id.timestamp_ns();
    applied_timestamp_ns = id.timestamp_ns();
    state_loaded = true;
    journal.read_all(
        [this](std::vector<Journal::SlotRead> slots) { on_journal_read(std::move(slots)); });
  };
  if (id.snapshot_size_bytes() == 0) {
    restore(std::string());
    return;
  }
  const uint32_t area =
      static_cast<uint32_t>((id.op() / config.checkpoint_interval) % config.checkpoint_retention);
  journal.read_checkpoint(area, 0, id.snapshot_size_bytes(), restore);
}

void Replica::Impl::on_journal_read(std::vector<Journal::SlotRead> slots) {
  KEEL_ASSERT(slots.size() == log.size());
  anchor_window(slots);
  for (uint64_t slot = 0; slot < slots.size(); slot++) classify_slot(slot, slots[slot]);
  choose_head();
  finish_start();
}

// The WAL holds the ops after the newest checkpoint. A replica that restored an older one (the
// newest was damaged) can replay from it only if the WAL still holds every op after it, and
// holds the newest checkpoint's op itself: that entry pins every op below it by the hash chain.
// Otherwise its log starts at the newest checkpoint and its state must come from a peer. (A
// newest checkpoint installed by state transfer lies beyond a WAL holding an older view's log,
// whose ops after the restored checkpoint may be of an abandoned branch: seed 9215 applied one
// as committed.) Either way it never forgets an op its WAL holds after the newest checkpoint:
// those may be ops it acknowledged.
void Replica::Impl::anchor_window(const std::vector<Journal::SlotRead>& slots) {
  const proto::CheckpointId& newest = checkpoints.front();
  if (!state_loaded || commit_min == newest.op()) return;
  KEEL_ASSERT(commit_min < newest.op());
  uint64_t op_max = 0;
  for (const Journal::SlotRead& read : slots) {
    if (read.ring == Journal::Part::valid) op_max = std::max(op_max, read.ring_header.op());
    if (read.prepare == Journal::Part::valid) op_max = std::max(op_max, read.prepare_header.op());
  }
  const auto names_newest = [&newest](Journal::Part part, const proto::Header& header) {
    return part == Journal::Part::valid && header.op() == newest.op() &&
           header.checksum() == newest.header_checksum();
  };
  const Journal::SlotRead& at_newest = slots[journal.slot_of(newest.op())];
  const bool holds_newest = names_newest(at_newest.prepare, at_newest.prepare_header) ||
                            names_newest(at_newest.ring, at_newest.ring_header);
  if (op_max <= commit_min + config.wal_slots && holds_newest) return;
  commit_min = newest.op();
  commit_min_checksum = newest.header_checksum();
  last_timestamp_ns = std::max(last_timestamp_ns, newest.timestamp_ns());
  applied_timestamp_ns = newest.timestamp_ns();
  state_loaded = false;
}

// Start-up classification (docs/vsr.md, "Recovery rules"). The prepare slot is written before the
// ring, so where both verify and disagree the prepare is newer. An unreadable ring proves
// nothing about what was acknowledged in that slot.
void Replica::Impl::classify_slot(uint64_t slot, const Journal::SlotRead& read) {
  RingState& r = ring[slot];
  r = RingState{};
  r.readable = read.ring != Journal::Part::garbage;
  if (read.ring == Journal::Part::valid && journal.slot_of(read.ring_header.op()) == slot) {
    r.has = true;
    r.op = read.ring_header.op();
    r.checksum = read.ring_header.checksum();
    r.with_body = read.ring_has_body;
  } else if (read.ring == Journal::Part::valid) {
    r.readable = false;  // a valid header of another slot: misdirected here
  }
  LogEntry& e = log[slot];
  e = LogEntry{};
  const bool prepare_ok =
      read.prepare == Journal::Part::valid && journal.slot_of(read.prepare_header.op()) == slot;
  if (prepare_ok) {
    e.header = read.prepare_header;
    e.known = true;
    e.present = read.prepare_has_body;
  } else if (r.has) {
    e.header = read.ring_header;
    e.known = true;
    e.present = false;
  }
  // Only ops after the checkpoint and within the window belong to the log.
  if (e.known && (e.header.op() <= commit_min || e.header.op() > commit_min + config.wal_slots)) {
    e = LogEntry{};
  }
  const bool damaged =
      read.ring == Journal::Part::garbage || read.prepare == Journal::Part::garbage;
  if (damaged) event(ReplicaEvent::wal_slot_faulty);
}

// The head is the newest entry that belongs to the log: one from log_view's start (up to
// log_view_op) or one prepared in log_view itself. Entries beyond log_view_op from older views
// are leftovers the view change that began log_view discarded.
void Replica::Impl::choose_head() {
  op = commit_min;
  for (const LogEntry& e : log) {
    if (!e.known) continue;
    const bool admissible = e.header.op() <= log_view_op || e.header.view() == log_view;
    if (admissible && e.header.op() > op) op = e.header.op();
  }
  // The log view began with the head log_view_op, named by its checksum in the superblock.
  // Unless an op prepared in the log view itself follows it, that is the head: entries below
  // it are trusted only through it (the view change may not have rewritten them all, and what
  // lies there may be another branch).
  bool head_known = true;
  const bool anchored = log_view_op > commit_min && log_view_op <= commit_min + config.wal_slots &&
                        log_view_head_checksum != 0;
  if (anchored && op <= log_view_op) {
    op = log_view_op;
    LogEntry& head = entry(op);
    if (!(head.known && head.header.op() == op &&
          head.header.checksum() == log_view_head_checksum)) {
      expect_entry(head, op, log_view_head_checksum);
      head_known = false;
    }
  }
  for (LogEntry& e : log) {
    if (e.known && e.header.op() > op) e = LogEntry{};
    if (e.known) last_timestamp_ns = std::max(last_timestamp_ns, e.header.timestamp_ns());
  }
  if (!head_known) return;  // repair fetches the head; the chain then decides the rest
  discard_unlinked_log();
  if (op > commit_min) {
    LogEntry& head = entry(op);
    KEEL_ASSERT(head.known);
    head.verified = true;
    verify_chain_from(op);
    // A damaged slot right after the head may have held a newer op: the torn head case.
    const RingState& next = ring[journal.slot_of(op + 1)];
    if (!next.readable) event(ReplicaEvent::wal_torn_head);
  }
}

void Replica::Impl::finish_start() {
  starting_done = true;
  raise_commit_max(commit_min, commit_min_checksum);
  if (!state_loaded) start_state_transfer("no checkpoint is readable");
  if (view > log_view) {
    // It crashed during a view change it had voted in: it keeps that promise.
    start_view_change(view, false);
  } else if (primary_of(view) == self) {
    // A restarted primary may have lost ops it had sent: it must not prepare again in this view,
    // or two different ops could carry the same number in one view.
    start_view_change(view + 1, false);
  } else {
    status = Status::normal;
    primary_contact_tick = ticks;
  }
  commit_ops();
}

// --- Messages ---

void Replica::Impl::send(uint32_t to, Kind kind, const google::protobuf::MessageLite& message) {
  io::send_message(env.bus, to, static_cast<uint16_t>(kind), message);
}

void Replica::Impl::broadcast(Kind kind, const google::protobuf::MessageLite& message) {
  for (uint32_t r = 0; r < replica_count; r++) {
    if (r != self) send(r, kind, message);
  }
}

void Replica::Impl::event(ReplicaEvent e) {
  if (observer != nullptr) observer->event(self, e);
}

void Replica::Impl::receive(io::NodeId from, uint16_t kind, std::span<const uint8_t> body) {
  if (!starting_done && status != Status::recovering) return;
  KEEL_ASSERT(!receiving);  // the bus delivers from its own events, never from inside a send
  receiving = true;
  dispatch(from, kind, body);
  receiving = false;
}

void Replica::Impl::dispatch(io::NodeId from, uint16_t kind, std::span<const uint8_t> body) {
  switch (static_cast<Kind>(kind)) {
#define KEEL_VSR_CASE(KIND, TYPE, CALL)     \
  case Kind::KIND: {                        \
    TYPE& message = std::get<TYPE>(inbox);  \
    if (parse_message(body, message)) CALL; \
    return;                                 \
  }
    KEEL_VSR_CASE(request, proto::Request, on_request(message, from))
    KEEL_VSR_CASE(prepare, proto::Prepare, on_prepare(message, from))
    KEEL_VSR_CASE(prepare_ok, proto::PrepareOk, on_prepare_ok(message))
    KEEL_VSR_CASE(commit, proto::Commit, on_commit(message))
    KEEL_VSR_CASE(start_view_change, proto::StartViewChange, on_start_view_change(message))
    KEEL_VSR_CASE(do_view_change, proto::DoViewChange, on_do_view_change(message))
    KEEL_VSR_CASE(start_view, proto::StartView, on_start_view(message, from))
    KEEL_VSR_CASE(request_start_view, proto::RequestStartView, on_request_start_view(message, from))
    KEEL_VSR_CASE(recovery, proto::Recovery, on_recovery(message, from))
    KEEL_VSR_CASE(recovery_response, proto::RecoveryResponse, on_recovery_response(message))
    KEEL_VSR_CASE(request_prepare, proto::RequestPrepare, on_request_prepare(message, from))
    KEEL_VSR_CASE(prepare_repair, proto::Prepare, on_prepare_repair(message, from))
    KEEL_VSR_CASE(request_checkpoint, proto::RequestCheckpoint,
                  on_request_checkpoint(message, from))
    KEEL_VSR_CASE(checkpoint_chunk, proto::CheckpointChunk, on_checkpoint_chunk(message))
    KEEL_VSR_CASE(ping, proto::Ping, on_ping(message, from))
    KEEL_VSR_CASE(pong, proto::Pong, on_pong(message))
#undef KEEL_VSR_CASE
    default:
      return;  // replies and unknown kinds are not for replicas
  }
}

// --- Ticks ---

void Replica::Impl::schedule_tick() {
  tick_timer = env.timers.start(config.tick_ms() * io::ns_per_ms, [this] {
    tick_timer = io::timer_id_none;
    tick();
    schedule_tick();
  });
}

void Replica::Impl::tick() {
  ticks++;
  if (ticks % 4 == 0 && replica_count > 1) {
    proto::Ping ping;
    ping.set_monotonic_ns(env.clock.monotonic_ns());
    ping.set_replica(self);
    ping.set_checkpoint_op(newest_checkpoint_op());
    broadcast(Kind::ping, ping);
  }
  clock_sync.update(env.clock.monotonic_ns());
  while (write_retries_seen < journal.write_retries()) {
    write_retries_seen++;
    event(ReplicaEvent::write_verify_retry);
  }
  while (clock_rejections_seen < clock_sync.rejections()) {
    clock_rejections_seen++;
    event(ReplicaEvent::clock_rejected);
  }
  if (status == Status::recovering) {
    recovery_tick();
    state_transfer_tick();
    return;
  }
  if (!starting_done) return;
  if (status == Status::normal && primary_of(view) == self) primary_tick();
  if (status == Status::normal && primary_of(view) != self) backup_tick();
  if (status == Status::view_change && !installing) {
    const uint64_t backoff =
        std::min<uint64_t>(uint64_t{1} << std::min<uint32_t>(view_change_attempts, 3), 8);
    if (ticks - view_change_tick > config.ticks(config.view_change_timeout_ms) * backoff) {
      start_view_change(view + 1, true);
    } else if (ticks % 4 == 0) {
      send_start_view_change();
      if (vote_durable) send_do_view_change();
      if (primary_of(view) == self) try_finish_view_change();
    }
  }
  repair_tick();
  scrub_tick();
  state_transfer_tick();
  if (ticks % 40 == 0 && commit_min < commit_max) {
    const LogEntry& e = entry(commit_min + 1);
    debug(
        "commit stalled at {}/{} op {}: next known {} op {} verified {} present {} writing {} "
        "expected {} committing {} checkpointing {} transfer {} loaded {}",
        commit_min, commit_max, op, e.known, e.header.op(), e.verified, e.present, e.writing,
        e.expected_op, committing, checkpointing, transfer.active, state_loaded);
  }
}

void Replica::Impl::primary_tick() {
  if (ticks - heartbeat_tick >= 4) send_heartbeat();
  // Prepares not yet acknowledged by everyone are sent again (the network loses messages).
  if (ticks % 2 == 0) {
    for (const Pending& pending : pipeline) {
      for (uint32_t r = 0; r < replica_count; r++) {
        if (r != self && acked_op[r] < pending.header.op()) send_prepare(pending, r);
      }
    }
  }
  prepare_batch();
}

void Replica::Impl::backup_tick() {
  if (installing) return;
  if (ticks - primary_contact_tick > config.ticks(config.heartbeat_timeout_ms)) {
    start_view_change(view + 1, true);
    return;
  }
  // A primary that is heard but commits nothing while it has ops pending is stuck (an op of its
  // log may have no body left within reach): a new view may decide that op again, with nacks.
  if (commit_max >= primary_op_seen || commit_max > commit_progress_seen) {
    commit_progress_seen = commit_max;
    commit_progress_tick = ticks;
  } else if (ticks - commit_progress_tick > 8 * config.ticks(config.view_change_timeout_ms)) {
    debug("view {}: the primary commits nothing past {} (its head is {})", view, commit_max,
          primary_op_seen);
    start_view_change(view + 1, true);
    return;
  }
  if (ticks % 4 == 0) send_prepare_ok();
}

void Replica::Impl::send_heartbeat() {
  heartbeat_tick = ticks;
  proto::Commit message;
  message.set_view(view);
  message.set_commit(commit_max);
  message.set_commit_checksum(header_checksum_of(commit_max));
  message.set_replica(self);
  message.set_op(op);
  message.set_checkpoint_op(newest_checkpoint_op());
  broadcast(Kind::commit, message);
}

// --- Clock synchronisation ---

void Replica::Impl::on_ping(const proto::Ping& message, io::NodeId from) {
  if (from >= replica_count || from == self) return;
  peer_checkpoint_op[from] = std::max(peer_checkpoint_op[from], message.checkpoint_op());
  proto::Pong pong;
  pong.set_ping_monotonic_ns(message.monotonic_ns());
  pong.set_realtime_ns(env.clock.realtime_ns());
  pong.set_replica(self);
  pong.set_checkpoint_op(newest_checkpoint_op());
  send(from, Kind::pong, pong);
}

void Replica::Impl::on_pong(const proto::Pong& message) {
  if (message.replica() >= replica_count || message.replica() == self) return;
  peer_checkpoint_op[message.replica()] =
      std::max(peer_checkpoint_op[message.replica()], message.checkpoint_op());
  clock_sync.sample(message.replica(), message.ping_monotonic_ns(), message.realtime_ns(),
                    env.clock.monotonic_ns(), env.clock.realtime_ns());
}

// --- Normal operation: requests (VRR 4.1 steps 1-2) ---

void Replica::Impl::on_request(const proto::Request& request, io::NodeId from) {
  debug("request from {} client {:x} session {} request {} register {} (primary {})", from,
        request.client(), request.session(), request.request(), request.register_(), is_primary());
  if (!is_primary() || from < replica_count || installing) return;
  remember_client(request.client(), from);
  // The answers from the client table need it up to date; while the primary is still applying
  // committed ops the request is queued as it is, and the table decides when it commits.
  const bool table_current = commit_min == commit_max && state_loaded;
  const Session* session = table_current ? find_session(request.client()) : nullptr;
  if (table_current && !request.register_()) {
    if (session == nullptr || session->session != request.session()) {
      proto::Reply reply;
      reply.set_client(request.client());
      reply.set_session(request.session());
      reply.set_request(request.request());
      reply.set_status(proto::SESSION_EVICTED);
      reply_to_client(request, reply);
      return;
    }
    if (request.request() < session->request) return;  // an old duplicate
    if (request.request() == session->request) {
      proto::Reply reply;
      reply.set_client(request.client());
      reply.set_session(session->session);
      reply.set_request(session->request);
      reply.set_op(session->op);
      reply.set_status(proto::OK);
      reply.set_result(session->reply);
      reply_to_client(request, reply);
      return;
    }
  }
  const auto in_flight = requests_in_flight.find(request.client());
  if (in_flight != requests_in_flight.end() && in_flight->second >= request.request() &&
      !request.register_()) {
    return;  // already queued or prepared
  }
  if (in_flight != requests_in_flight.end() && request.register_()) return;
  if (request_queue.size() >= config.request_queue_max) return;  // the client will retry
  const uint64_t size_bytes = request.ByteSizeLong();
  if (size_bytes + header_size_bytes + 64 > config.message_size_bytes_max) return;
  requests_in_flight[request.client()] = request.request();
  request_queue.push_back(request);
  prepare_batch();
}

void Replica::Impl::reply_to_client(const proto::Request& request, const proto::Reply& reply_in) {
  const auto node = client_nodes.find(request.client());
  if (node == client_nodes.end()) return;  // the client retries, and is heard from again
  proto::Reply reply = reply_in;
  reply.set_view(view);
  reply.set_replica(self);
  send(node->second, Kind::reply, reply);
}

// Replies go to the node a client's requests come from. Bounded: entries of clients without a
// session go first.
void Replica::Impl::remember_client(uint64_t client, io::NodeId from) {
  client_nodes[client] = from;
  const size_t entries_max = 2 * size_t{config.clients_max} + config.request_queue_max;
  for (auto it = client_nodes.begin();
       client_nodes.size() > entries_max && it != client_nodes.end();) {
    if (sessions.count(it->first) == 0 && requests_in_flight.count(it->first) == 0 &&
        it->first != client) {
      it = client_nodes.erase(it);
    } else {
      ++it;
    }
  }
}

// --- Normal operation: prepare (VRR 4.1 steps 3-5) ---

bool Replica::Impl::can_write(uint64_t op_new) const {
  // The slot's previous occupant must be covered by the newest checkpoint.
  const uint64_t checkpoint_op = newest_checkpoint_op();
  return op_new <= checkpoint_op + config.wal_slots && op_new > commit_min;
}

void Replica::Impl::prepare_batch() {
  // A new op's timestamp must exceed its parent's: the primary prepares only once it knows the
  // header of its head (after a view change it may know the head by checksum alone).
  const auto head_known = [this] {
    if (op == commit_min) return true;
    const LogEntry* head = entry_if(op);
    return head != nullptr && head->verified;
  };
  while (is_primary() && !installing && !request_queue.empty() &&
         pipeline.size() < config.pipeline_max && can_write(op + 1) && clock_sync.synchronized() &&
         head_known() && !batch_held()) {
    end_batch_hold();  // a hold delays one prepare, the first after a commit
    proto::Batch batch;
    uint64_t size_bytes = header_size_bytes + 64;
    while (!request_queue.empty() &&
           batch.requests_size() < static_cast<int>(config.batch_requests_max)) {
      const uint64_t next = request_queue.front().ByteSizeLong() + 8;
      if (size_bytes + next > config.message_size_bytes_max) break;
      size_bytes += next;
      *batch.add_requests() = std::move(request_queue.front());
      request_queue.pop_front();
    }
    KEEL_ASSERT(batch.requests_size() > 0);
    std::string body = batch.SerializeAsString();
    proto::Header header;
    header.set_parent(header_checksum_of(op));
    header.set_view(view);
    header.set_op(op + 1);
    header.set_commit(commit_max);
    const int64_t cluster_ns = clock_sync.cluster_realtime_ns(env.clock.realtime_ns());
    const uint64_t cluster_time_ns = cluster_ns < 0 ? 0 : static_cast<uint64_t>(cluster_ns);
    header.set_timestamp_ns(std::max(last_timestamp_ns + 1, cluster_time_ns));
    header.set_operation(proto::APPLY);
    seal_header(header, body, env.cluster_id);
    last_timestamp_ns = header.timestamp_ns();
    op = header.op();
    debug("prepare op {} with {} requests", op, batch.requests_size());
    pipeline.push_back(Pending{header, body, static_cast<uint32_t>(batch.requests_size())});
    for (uint32_t r = 0; r < replica_count; r++) {
      if (r != self) send_prepare(pipeline.back(), r);
    }
    put_entry(header, std::move(body), [this](bool) { advance_commit_max_from_acks(); });
    entry(op).verified = true;  // the primary's own log is the log of its view
  }
}

// Unpipelined clients answered by a commit send their next requests a moment later. Without a
// hold they miss the prepare the requests already waiting start at once, and the clients settle
// into groups that take turns, each prepare carrying only one group (docs/benchmarks.md).
void Replica::Impl::hold_next_batch(uint32_t requests_answered) {
  KEEL_ASSERT(requests_answered > 0);
  if (config.batch_delay_us == 0 || !is_primary()) return;
  batch_hold_requests =
      std::min<size_t>(config.batch_requests_max, request_queue.size() + size_t{requests_answered});
  batch_hold_until_ns = env.clock.monotonic_ns() + config.batch_delay_us * 1000;
}

void Replica::Impl::end_batch_hold() {
  batch_hold_requests = 0;
  // A hold the waiting requests ended needs no wake-up any more.
  if (batch_timer != io::timer_id_none) env.timers.cancel(batch_timer);
  batch_timer = io::timer_id_none;
}

bool Replica::Impl::batch_held() {
  if (request_queue.size() >= batch_hold_requests) return false;
  const uint64_t now_ns = env.clock.monotonic_ns();
  if (now_ns >= batch_hold_until_ns) return false;
  KEEL_ASSERT(batch_hold_until_ns - now_ns <= config.batch_delay_us * 1000);
  if (batch_timer == io::timer_id_none) {
    debug("prepare held: {} requests wait, {} expected", request_queue.size(), batch_hold_requests);
    batch_timer = env.timers.start(batch_hold_until_ns - now_ns, [this] {
      batch_timer = io::timer_id_none;
      prepare_batch();
    });
  }
  return true;
}

void Replica::Impl::send_prepare(const Pending& pending, uint32_t to) {
  if (!pending.body) return;
  proto::Prepare prepare;
  *prepare.mutable_header() = pending.header;
  prepare.set_body(*pending.body);
  send(to, Kind::prepare, prepare);
}

void Replica::Impl::on_prepare(const proto::Prepare& prepare, io::NodeId from) {
  const proto::Header& header = prepare.header();
  if (!header_valid(header, env.cluster_id) || !body_matches(header, prepare.body())) return;
  if (header.view() > view || (header.view() == view && status != Status::normal &&
                               status != Status::recovering && !installing)) {
    if (header.view() >= view) request_start_view(header.view());
    return;
  }
  if (status != Status::normal || header.view() < view || primary_of(view) == self) return;
  if (from != primary_of(view)) return;
  primary_contact_tick = ticks;
  primary_op_seen = std::max(primary_op_seen, header.op());
  // The primary's prepare names its parent: when that is the commit, it names the commit's op.
  const uint64_t commit_named = std::min(header.commit(), header.op());
  raise_commit_max(commit_named, commit_named + 1 == header.op() ? header.parent() : 0);
  if (header.op() <= commit_min) {
    send_prepare_ok();
    return;
  }
  if (!can_write(header.op())) {
    commit_ops();
    return;
  }
  const LogEntry* existing = entry_if(header.op());
  if (existing != nullptr && existing->header.checksum() == header.checksum() &&
      (existing->present || existing->writing)) {
    send_prepare_ok();
    commit_ops();
    return;
  }
  // The primary's log is the log in its view: a prepare of this view replaces whatever the slot
  // held, and anything after it that does not chain is discarded by verification.
  if (header.op() > op) {
    op = header.op();
  }
  put_entry(header, prepare.body(), [this](bool) {
    send_prepare_ok();
    commit_ops();
  });
  entry(header.op()).verified = true;
  verify_chain_from(header.op());
  commit_ops();
}

void Replica::Impl::send_prepare_ok() {
  if (status != Status::normal || primary_of(view) == self) return;
  const uint64_t through = durable_through();
  if (through <= commit_min && through == 0) return;
  proto::PrepareOk ok;
  ok.set_view(view);
  ok.set_op(through);
  ok.set_checksum(header_checksum_of(through));
  ok.set_replica(self);
  debug("prepare_ok {} in view {}", through, view);
  send(primary_of(view), Kind::prepare_ok, ok);
  prepare_ok_sent_op = through;
}

void Replica::Impl::on_prepare_ok(const proto::PrepareOk& message) {
  if (!is_primary() || message.view() != view || message.replica() >= replica_count) return;
  if (message.replica() == self) return;
  if (message.op() > op || header_checksum_of(message.op()) != message.checksum()) return;
  uint64_t& acked = acked_op[message.replica()];
  acked = std::max(acked, message.op());
  advance_commit_max_from_acks();
}

// An op is committed once a quorum, counting the primary, holds it durably in this view
// (VRR 4.1 step 5). Acknowledgements are cumulative: a backup acknowledges op k only when it
// holds every op up to k.
void Replica::Impl::advance_commit_max_from_acks() {
  if (!is_primary()) return;
  acked_op[self] = durable_through();
  for (uint64_t candidate = op; candidate > commit_max; candidate--) {
    uint32_t holders = 0;
    for (uint32_t r = 0; r < replica_count; r++) {
      if (acked_op[r] >= candidate) holders++;
    }
    if (holders >= quorum) {
      debug("commit_max {} by acks [{}]", candidate, fmt::join(acked_op, ","));
      if (observer != nullptr) {
        for (uint64_t k = commit_max + 1; k <= candidate; k++) {
          observer->commit_counted(self, view, k, header_checksum_of(k));
        }
      }
      raise_commit_max(candidate, header_checksum_of(candidate));
      break;
    }
  }
  commit_ops();
}

// commit_max only grows. The identity of its op is kept when the news of the commit names it, so
// that a view change can name a committed op that no log in hand lists (seed 3357: a new primary
// had to drop the op after the commit, and could not name the commit as the new head).
void Replica::Impl::raise_commit_max(uint64_t commit, uint64_t checksum) {
  if (commit < commit_max) return;
  if (commit > commit_max) {
    commit_max = commit;
    commit_max_checksum = checksum;
    return;
  }
  // One committed op per number.
  KEEL_ASSERT(checksum == 0 || commit_max_checksum == 0 || checksum == commit_max_checksum);
  if (commit_max_checksum == 0) commit_max_checksum = checksum;
}

void Replica::Impl::on_commit(const proto::Commit& message) {
  if (message.replica() >= replica_count || message.replica() != primary_of(message.view())) return;
  // A newer view, or the view this replica is changing to has already started without it (it
  // restarted into a view change the others finished): it asks for the view's log.
  const bool missed_start = message.view() == view && status == Status::view_change;
  if (message.view() > view || missed_start) {
    request_start_view(message.view());
    return;
  }
  if (message.view() < view || status != Status::normal || primary_of(view) == self) return;
  primary_contact_tick = ticks;
  primary_op_seen = std::max(primary_op_seen, message.op());
  primary_checkpoint_seen = std::max(primary_checkpoint_seen, message.checkpoint_op());
  raise_commit_max(message.commit(), message.commit_checksum());
  // The commit's checksum anchors the chain: a stale entry at that op is found and repaired.
  if (message.commit() > commit_min && message.commit() <= op + config.wal_slots) {
    LogEntry& e = entry(message.commit());
    const bool matches = e.known && e.header.op() == message.commit() &&
                         e.header.checksum() == message.commit_checksum();
    if (!matches && message.commit() <= op) {
      expect_entry(e, message.commit(), message.commit_checksum());
    } else if (matches) {
      e.verified = true;
      verify_chain_from(message.commit());
    }
    if (message.commit() > op && can_write(message.commit())) {
      // It is behind the primary's log: learn the head by asking for it.
      expect_entry(e, message.commit(), message.commit_checksum());
      op = message.commit();
    }
  }
  send_prepare_ok();
  commit_ops();
}

// --- The log ---

const LogEntry* Replica::Impl::entry_if(uint64_t op_wanted) const {
  const LogEntry& e = log[journal.slot_of(op_wanted)];
  if (!e.known || e.header.op() != op_wanted) return nullptr;
  return &e;
}

bool Replica::Impl::has_entry(uint64_t op_wanted) const { return entry_if(op_wanted) != nullptr; }

uint64_t Replica::Impl::header_checksum_of(uint64_t op_wanted) const {
  if (op_wanted == commit_min) return commit_min_checksum;
  if (op_wanted == 0) return root.checksum();
  const LogEntry* e = entry_if(op_wanted);
  if (e != nullptr) return e->header.checksum();
  const LogEntry& slot = log[journal.slot_of(op_wanted)];
  return slot.expected_op == op_wanted ? slot.expected_checksum : 0;
}

void Replica::Impl::put_entry(const proto::Header& header, std::optional<std::string> body,
                              absl::AnyInvocable<void(bool)> done) {
  KEEL_ASSERT(header.op() > commit_min);
  KEEL_ASSERT(can_write(header.op()));
  LogEntry& e = entry(header.op());
  const bool same = e.known && e.header.checksum() == header.checksum();
  const bool verified = same && e.verified;
  const bool scrub_damaged = same && e.scrub_damaged;
  last_timestamp_ns = std::max(last_timestamp_ns, header.timestamp_ns());
  e = LogEntry{};
  e.header = header;
  e.known = true;
  e.verified = verified;
  e.scrub_damaged = scrub_damaged;
  e.writing = true;
  const bool with_body = body.has_value();
  const uint64_t checksum = header.checksum();
  if (body) body_cache.put(header.op(), checksum, *body);
  const uint64_t slot = journal.slot_of(header.op());
  const uint64_t op_written = header.op();
  journal.write_entry(
      header, std::move(body),
      [this, slot, op_written, checksum, with_body, done = std::move(done)](bool durable) mutable {
        LogEntry& e = log[slot];
        RingState& r = ring[slot];
        // What the disk holds, whatever the log has put in this slot's place meanwhile.
        if (durable) {
          r = RingState{true, true, op_written, checksum, with_body};
        }
        const bool current = e.known && e.header.checksum() == checksum;
        debug("write of op {} done: durable {} current {} body {}", e.header.op(), durable, current,
              with_body);
        if (current) {
          e.writing = false;
          e.present = durable && with_body;
          if (e.present && e.scrub_damaged) {
            e.scrub_damaged = false;
            event(ReplicaEvent::scrub_repair);
          }
        }
        done(durable && current);
      });
}

// A slot already waiting for the same entry keeps its repair history, so its next ask still goes
// to the next peer and waits repair_timeout_ms (seed 7773: each retransmitted prepare reset the
// history, and two replicas that both lacked op 1022 asked only each other, every tick, forever).
void Replica::Impl::expect_entry(LogEntry& e, uint64_t op_wanted, uint64_t checksum) {
  KEEL_ASSERT(op_wanted != 0);
  if (!e.known && e.expected_op == op_wanted && e.expected_checksum == checksum) return;
  e = LogEntry{};
  e.expected_op = op_wanted;
  e.expected_checksum = checksum;
}

// Walks the hash chain down from a trusted entry: each entry whose checksum is the parent its
// successor names is verified; the first that is not is replaced by what the chain demands.
void Replica::Impl::verify_chain_from(uint64_t op_top) {
  for (uint64_t k = op_top; k > commit_min + 1; k--) {
    const LogEntry* upper = entry_if(k);
    if (upper == nullptr || !upper->verified) return;
    LogEntry& lower = entry(k - 1);
    const bool links = lower.known && lower.header.op() == k - 1 &&
                       lower.header.checksum() == upper->header.parent();
    if (links) {
      if (lower.verified) return;
      lower.verified = true;
      continue;
    }
    // Replaced even while its write is in flight (seed 3996: a new primary's own prepare from its
    // old view, named in its start_view as if it were the chain's): the write's completion finds
    // another entry in the slot and leaves it alone.
    expect_entry(lower, k - 1, upper->header.parent());
    return;
  }
  // The entry right after commit_min must link to it, or the committed prefix would change.
  if (op_top > commit_min) {
    const LogEntry* first = entry_if(commit_min + 1);
    if (first != nullptr && first->verified && state_loaded) {
      KEEL_ASSERT(first->header.parent() == commit_min_checksum);
    }
  }
}

// An op may be acknowledged only once its ring header is durable too (docs/vsr.md, "Recovery
// rules"): that is what makes a readable ring without it a proof of never having acknowledged.
// After a restart or a state transfer the log above commit_min comes from this replica's own
// past. If it is complete and its hash chain ends in the committed op, it is that op's log.
// If it is complete and ends elsewhere, it is a branch that was never committed (a committed
// successor names the committed op as its parent): it is forgotten, and the log starts at
// commit_min. An incomplete log is kept: repair completes it and the chain then decides.
void Replica::Impl::discard_unlinked_log() {
  for (uint64_t k = op; k > commit_min + 1; k--) {
    const LogEntry* upper = entry_if(k);
    const LogEntry* lower = entry_if(k - 1);
    if (upper == nullptr || lower == nullptr) return;
    if (upper->header.parent() != lower->header.checksum()) return;
  }
  const LogEntry* first = entry_if(commit_min + 1);
  if (first == nullptr || first->header.parent() == commit_min_checksum) return;
  debug("log above {} does not link to the committed op: forgotten", commit_min);
  for (uint64_t k = commit_min + 1; k <= op; k++) {
    LogEntry& e = entry(k);
    if (e.known && e.header.op() == k && !e.writing) e = LogEntry{};
  }
  op = commit_min;
}

uint64_t Replica::Impl::durable_through() const {
  uint64_t through = commit_min;
  while (through < op) {
    const LogEntry* next = entry_if(through + 1);
    if (next == nullptr || !next->present || !next->verified || !ring_holds(*next)) break;
    through++;
  }
  return through;
}

bool Replica::Impl::ring_holds(const LogEntry& e) const {
  const RingState& r = ring[journal.slot_of(e.header.op())];
  return r.readable && r.has && r.with_body && r.op == e.header.op() &&
         r.checksum == e.header.checksum();
}

void Replica::Impl::truncate_after(uint64_t op_new) {
  KEEL_ASSERT(op_new >= commit_min);
  for (uint64_t k = op_new + 1; k <= op; k++) {
    LogEntry& e = entry(k);
    if (e.known && e.header.op() == k) e = LogEntry{};
    if (!e.known && e.expected_op == k) e = LogEntry{};
  }
  op = op_new;
}

// --- Commit (VRR 4.1 steps 6-7) ---

void Replica::Impl::commit_ops() {
  if (committing || checkpointing || !state_loaded || transfer.active) return;
  if (status != Status::normal && status != Status::view_change) return;
  if (commit_min >= commit_max) return;
  const uint64_t next = commit_min + 1;
  const LogEntry* e = entry_if(next);
  if (e == nullptr || !e->present || !e->verified) return;  // repair fetches it
  const proto::Header header = e->header;
  if (header.parent() != commit_min_checksum) return;
  for (const Pending& pending : pipeline) {
    if (pending.header.op() == next && pending.body &&
        pending.header.checksum() == header.checksum()) {
      apply_prepare(header, *pending.body);
      return;
    }
  }
  if (const std::string* body = body_cache.find(next, header.checksum())) {
    apply_prepare(header, *body);
    return;
  }
  committing = true;
  journal.read_prepare(journal.slot_of(next), [this, header](Journal::PrepareRead read) {
    committing = false;
    if (!read.ok || read.header.checksum() != header.checksum()) {
      // Damaged since it was written: fetch it again.
      LogEntry& e = entry(header.op());
      if (e.known && e.header.checksum() == header.checksum() && !e.writing) e.present = false;
      return;
    }
    if (commit_min + 1 != header.op() || !entry_if(header.op())) return;
    apply_prepare(header, read.body);
  });
}

void Replica::Impl::apply_prepare(const proto::Header& header, const std::string& body) {
  KEEL_ASSERT(header.op() == commit_min + 1);
  KEEL_ASSERT(header.parent() == commit_min_checksum);
  KEEL_ASSERT(body_matches(header, body));
  KEEL_ASSERT(header.op() <= commit_max);
  // Cluster timestamps strictly increase along the log.
  KEEL_ASSERT(header.timestamp_ns() > applied_timestamp_ns);
  if (header.operation() == proto::APPLY) {
    proto::Batch batch;
    const bool parsed = batch.ParseFromString(body);
    KEEL_ASSERT(parsed);  // it verified against its checksum: the primary wrote it
    for (const proto::Request& request : batch.requests()) apply_request(header, request);
  }
  applied_timestamp_ns = header.timestamp_ns();
  last_timestamp_ns = std::max(last_timestamp_ns, header.timestamp_ns());
  commit_min = header.op();
  commit_min_checksum = header.checksum();
  LogEntry& e = entry(commit_min);
  if (e.known && e.header.checksum() == commit_min_checksum) e.applied = true;
  debug("committed op {}", commit_min);
  after_commit(header);
}

Session* Replica::Impl::find_session(uint64_t client) {
  const auto found = sessions.find(client);
  return found == sessions.end() ? nullptr : &found->second;
}

// The least recently used session goes: the one whose latest request is oldest.
void Replica::Impl::evict_one() {
  KEEL_ASSERT(!sessions.empty());
  auto oldest = sessions.begin();
  for (auto it = sessions.begin(); it != sessions.end(); ++it) {
    if (it->second.op < oldest->second.op) oldest = it;
  }
  sessions.erase(oldest);
  event(ReplicaEvent::client_evicted);
}

void Replica::Impl::apply_request(const proto::Header& header, const proto::Request& request) {
  proto::Reply reply;
  reply.set_client(request.client());
  reply.set_request(request.request());
  reply.set_op(header.op());
  if (request.register_()) {
    if (find_session(request.client()) == nullptr && sessions.size() >= config.clients_max) {
      evict_one();
    }
    sessions[request.client()] = Session{request.client(), header.op(), 0, header.op(), ""};
    reply.set_session(header.op());
    reply.set_status(proto::OK);
  } else {
    Session* session = find_session(request.client());
    reply.set_session(request.session());
    if (session == nullptr || session->session != request.session()) {
      reply.set_status(proto::SESSION_EVICTED);
    } else if (request.request() <= session->request) {
      // Prepared twice (a retry across a view change): applied once, answered alike.
      if (request.request() < session->request) return;
      reply.set_status(proto::OK);
      reply.set_op(session->op);
      reply.set_result(session->reply);
    } else {
      std::string result = state_machine.apply(request.command(), header.timestamp_ns());
      session->request = request.request();
      session->op = header.op();
      session->reply = result;
      reply.set_status(proto::OK);
      reply.set_result(std::move(result));
    }
  }
  if (is_primary()) {
    requests_in_flight.erase(request.client());
    reply_to_client(request, reply);
  }
}

void Replica::Impl::after_commit(const proto::Header& header) {
  if (observer != nullptr && observer->observes_commits()) {
    observer->committed(self, header.op(), header.checksum(), replicated_checksum());
  }
  uint32_t requests_answered = 0;
  while (!pipeline.empty() && pipeline.front().header.op() <= commit_min) {
    requests_answered += pipeline.front().requests;
    pipeline.pop_front();
  }
  if (requests_answered > 0) hold_next_batch(requests_answered);
  checkpoint_if_due(header);
  if (!checkpointing) commit_ops();
  if (is_primary()) prepare_batch();
}

uint64_t Replica::Impl::replicated_checksum() const {
  uint64_t sum = state_machine.checksum();
  for (const auto& [client, session] : sessions) {
    const uint64_t words[4] = {session.client, session.session, session.request, session.op};
    sum = io::checksum(
              std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(words), sizeof(words))) ^
          (sum * 0x9e3779b97f4a7c15ULL);
    sum ^= io::checksum(std::span<const uint8_t>(
        reinterpret_cast<const uint8_t*>(session.reply.data()), session.reply.size()));
  }
  return sum;
}

// --- Superblock ---

proto::SuperblockState Replica::Impl::superblock_state() const {
  proto::SuperblockState state;
  state.set_cluster_id(env.cluster_id);
  state.set_replica(self);
  state.set_replica_count(replica_count);
  *state.mutable_data_file() = data_file_config(config);
  state.set_view(view);
  state.set_log_view(log_view);
  state.set_log_view_op(log_view_op);
  state.set_log_view_head_checksum(log_view_head_checksum);
  // The commit number is a promise about the log and checkpoints on this disk: every op up to
  // it there is committed. A commit learned by state transfer is beyond this replica's log, so
  // it is claimed only with the checkpoint that covers it (seed 9215: a view change wrote it
  // while the transferred checkpoint was still being written; after a crash the replica applied
  // an op of its own older log, of an abandoned branch, as committed).
  const uint64_t commit_claimed = transfer.finishing ? transfer.commit_max_before : commit_max;
  const uint64_t commit_number = std::max(commit_claimed, newest_checkpoint_op());
  state.set_commit_number(commit_number);
  if (!checkpoints.empty() && commit_number == checkpoints.front().op()) {
    state.set_commit_checksum(checkpoints.front().header_checksum());
  } else if (commit_number == commit_max) {
    state.set_commit_checksum(commit_max_checksum);
  }
  state.set_checkpoint_op(newest_checkpoint_op());
  state.set_nack_floor_op(nack_floor_op);
  for (const proto::CheckpointId& id : checkpoints) *state.add_checkpoints() = id;
  return state;
}

void Replica::Impl::persist(absl::AnyInvocable<void()> done) {
  persist_waiting.push_back(std::move(done));
  if (!persisting) persist_next();
}

// Writes the state as it is now for everyone waiting; requests that arrive meanwhile wait for
// the next write, which carries whatever changed since.
void Replica::Impl::persist_next() {
  KEEL_ASSERT(!persisting);
  if (persist_waiting.empty()) return;
  persisting = true;
  persist_running = std::move(persist_waiting);
  persist_waiting.clear();
  superblock.write(superblock_state(), [this](bool durable) {
    persisting = false;
    if (!durable) {
      // The device failed the write: try again with the same waiters.
      for (auto& done : persist_running) persist_waiting.push_back(std::move(done));
      persist_running.clear();
      persist_next();
      return;
    }
    auto running = std::move(persist_running);
    persist_running.clear();
    for (auto& done : running) done();
    if (!persisting) persist_next();  // a waiter may have started the next write already
  });
}

}  // namespace keel::vsr
