// Repair of missing or damaged WAL entries, scrubbing, checkpoints and state transfer.

#include <algorithm>

#include "core/vsr/replica_impl.h"
#include "io/assert.h"

namespace keel::vsr {

// --- Repair ---

// Asks peers for entries the log needs and does not hold: a body behind a known header, or an
// entry the hash chain names. Within repair_budget requests per tick, and each entry at most
// once per repair_timeout_ms.
void Replica::Impl::repair_tick() {
  if (installing || !state_loaded || transfer.active) return;
  const bool backup = status == Status::normal && primary_of(view) != self;
  if (status != Status::normal) return;
  uint32_t budget = config.repair_budget;
  const uint64_t wait_ticks = config.ticks(config.repair_timeout_ms);
  const uint64_t checkpoint_op = checkpoints.front().op();
  uint64_t last = op;
  if (backup) last = std::max(op, std::min(primary_op_seen, checkpoint_op + config.wal_slots));
  for (uint64_t k = checkpoint_op + 1; k <= last && budget > 0; k++) {
    LogEntry& e = entry(k);
    if (e.writing || (e.repair_tick != 0 && ticks - e.repair_tick < wait_ticks)) continue;
    const bool holds = e.known && e.header.op() == k;
    if (holds && e.present && !ring_holds(e)) {
      // Found at start-up in its prepare slot but not in the ring: complete the write.
      budget--;
      e.writing = true;
      const uint64_t checksum = e.header.checksum();
      journal.write_ring(e.header, [this, k, checksum](bool durable) {
        LogEntry& e = entry(k);
        if (durable) ring[journal.slot_of(k)] = RingState{true, true, k, checksum, true};
        if (e.known && e.header.op() == k && e.header.checksum() == checksum) e.writing = false;
        send_prepare_ok();
        advance_commit_max_from_acks();
      });
      continue;
    }
    if (holds && e.present) continue;
    if (!holds && k <= commit_min) continue;  // applied, and not kept: nothing to repair
    uint64_t checksum = 0;
    if (holds) {
      checksum = e.header.checksum();
    } else if (e.expected_op == k) {
      checksum = e.expected_checksum;
    }
    // A backup's header that the chain has not confirmed may be a leftover of an abandoned
    // branch that nobody holds any more (seed 2183): every other ask goes to the primary by
    // number, whose answer replaces it.
    if (backup && holds && !e.verified && e.repair_asks % 2 == 1) checksum = 0;
    if (checksum == 0 && !backup) continue;
    e.repair_tick = ticks;
    budget--;
    request_prepare(k, checksum, e.repair_asks++);
  }
}

// By number, only the primary answers. By checksum, the ask-th try goes to the ask-th peer,
// so every entry's tries cycle through all peers (a shared cursor sent the same entry to the
// same unreachable peer every round whenever the round's count was a multiple of the peers',
// seed 2183).
void Replica::Impl::request_prepare(uint64_t op_wanted, uint64_t checksum, uint32_t ask) {
  if (replica_count == 1) return;
  debug("request_prepare op {} checksum {:016x}", op_wanted, checksum);
  proto::RequestPrepare message;
  message.set_op(op_wanted);
  message.set_checksum(checksum);
  message.set_replica(self);
  if (checksum == 0) {
    send(primary_of(view), Kind::request_prepare, message);
    return;
  }
  if (status == Status::view_change) {
    broadcast(Kind::request_prepare, message);
    return;
  }
  const uint32_t peer = (self + 1 + (op_wanted + ask) % (replica_count - 1)) % replica_count;
  KEEL_ASSERT(peer != self);
  send(peer, Kind::request_prepare, message);
}

void Replica::Impl::on_request_prepare(const proto::RequestPrepare& message, io::NodeId from) {
  if (from >= replica_count || from == self || !state_loaded) return;
  if (status != Status::normal && status != Status::view_change) return;
  if (message.checksum() == 0 && !is_primary()) return;
  const LogEntry* e = entry_if(message.op());
  debug("asked for op {} by {}: have {:016x} present {} writing {} verified {}", message.op(), from,
        e != nullptr ? e->header.checksum() : 0, e != nullptr && e->present,
        e != nullptr && e->writing, e != nullptr && e->verified);
  if (e == nullptr && message.checksum() != 0) {
    // Not in memory (committed before a restart, and not reloaded), but perhaps still in the
    // WAL: the ring says so, and the read checks it (seed 9136: the only copies of two committed
    // ops were in such WALs, and the replicas that needed them waited forever).
    const RingState& r = ring[journal.slot_of(message.op())];
    if (r.readable && r.has && r.with_body && r.op == message.op() &&
        r.checksum == message.checksum()) {
      send_prepare_from_wal(message.op(), message.checksum(), from, false);
    }
    return;
  }
  if (e == nullptr || !e->present || e->writing) return;
  if (message.checksum() != 0 && e->header.checksum() != message.checksum()) return;
  // By number, only what is surely the log's: linked to the head, or executed here. (Not "at
  // or below the commit": after a state transfer, entries there may be leftovers of another
  // branch that were never applied; answering with them broke convergence in seed 534. Nor
  // only the linked ones: the chain is checked down to the commit, so a backup that restarted
  // without a checkpoint waited forever for ops the primary had executed, seeds 2183, 9911.)
  if (message.checksum() == 0 && !e->verified && !e->applied) return;
  // Asked by number, the primary answers from its log and says so; asked by checksum, anyone
  // answers with whatever entry has that checksum.
  const bool from_log = message.checksum() == 0;
  for (const Pending& pending : pipeline) {
    if (pending.body && pending.header.checksum() == e->header.checksum()) {
      proto::Prepare prepare;
      *prepare.mutable_header() = pending.header;
      prepare.set_body(*pending.body);
      prepare.set_from_log(from_log);
      send(from, Kind::prepare_repair, prepare);
      return;
    }
  }
  send_prepare_from_wal(message.op(), e->header.checksum(), from, from_log);
}

void Replica::Impl::send_prepare_from_wal(uint64_t op_wanted, uint64_t checksum, io::NodeId to,
                                          bool from_log) {
  journal.read_prepare(
      journal.slot_of(op_wanted), [this, to, checksum, from_log](Journal::PrepareRead read) {
        debug("read for repair: ok {} match {}", read.ok, read.header.checksum() == checksum);
        if (!read.ok || read.header.checksum() != checksum) return;
        proto::Prepare prepare;
        *prepare.mutable_header() = read.header;
        prepare.set_body(std::move(read.body));
        prepare.set_from_log(from_log);
        send(to, Kind::prepare_repair, prepare);
      });
}

void Replica::Impl::on_prepare_repair(const proto::Prepare& prepare, io::NodeId from) {
  const proto::Header& header = prepare.header();
  if (from >= replica_count || from == self || !state_loaded) return;
  if (!header_valid(header, env.cluster_id) || !body_matches(header, prepare.body())) return;
  const uint64_t k = header.op();
  if (status == Status::view_change && primary_of(view) == self && !installing) {
    // The new primary waits for it: kept aside until the log is decided.
    bool news = false;
    if (view_change_headers.size() < config.wal_slots) {
      news = view_change_headers.emplace(header.checksum(), header).second || news;
    }
    if (view_change_prepares.size() < 2 * size_t{config.pipeline_max}) {
      news = view_change_prepares.emplace(header.checksum(), prepare).second || news;
    }
    // Only news re-runs the decision. A run that still waits asks every peer again, so a run per
    // answer, duplicates included, doubled the asks in flight each round (seed 448, with bit flips
    // in sector data, ran out of memory); the view change tick re-runs it anyway.
    if (news) try_finish_view_change();
    return;
  }
  if (status != Status::normal || installing || !can_write(k)) return;
  LogEntry& e = entry(k);
  if (e.writing) return;
  const bool holds = e.known && e.header.op() == k;
  const bool body_wanted = holds && e.header.checksum() == header.checksum() && !e.present;
  const bool chain_wanted =
      !holds && e.expected_op == k && e.expected_checksum == header.checksum();
  // The primary's log is the log of its view: a backup may take any entry of it by op.
  const bool from_primary = prepare.from_log() && primary_of(view) == from &&
                            primary_of(view) != self && header.view() <= view &&
                            (!holds || !e.verified) && k > commit_min;
  if (!body_wanted && !chain_wanted && !from_primary) return;
  debug("repair of op {} from {}: body_wanted {} chain_wanted {} from_primary {}", k, from,
        body_wanted, chain_wanted, from_primary);
  const bool trusted = chain_wanted || from_primary || (body_wanted && e.verified);
  if (k > op) op = k;
  put_entry(header, prepare.body(), [this, k](bool durable) {
    if (!durable) return;
    event(ReplicaEvent::prepare_repaired);
    if (has_entry(k) && entry(k).verified) verify_chain_from(k);
    send_prepare_ok();
    commit_ops();
  });
  LogEntry& written = entry(k);
  written.verified = trusted;
  if (trusted) verify_chain_from(k);
  if (!body_wanted) event(ReplicaEvent::header_repaired);
}

// --- Scrubbing ---

// Checks scrub_budget slots every scrub_interval_ticks that both parts still hold exactly the
// entry the log says; a damaged one is fetched again before anyone needs it. One slot is read at
// a time: a burst of a hundred reads queues ahead of the WAL's own read-backs on the device and
// stalls every prepare behind them (docs/benchmarks.md). A scrub still reading when the next is
// due delays it: scrubbing yields to a busy disk instead of piling up.
void Replica::Impl::scrub_tick() {
  if (status != Status::normal || ticks % config.scrub_interval_ticks != 0) return;
  if (scrub_slots_left > 0 || scrub_reading) return;
  scrub_slots_left = static_cast<uint32_t>(std::min<uint64_t>(config.scrub_budget, log.size()));
  scrub_next();
}

// Starts the read of the next slot worth checking; the read's completion calls it again.
void Replica::Impl::scrub_next() {
  KEEL_ASSERT(!scrub_reading);
  if (status != Status::normal) scrub_slots_left = 0;
  const uint64_t checkpoint_op = newest_checkpoint_op();
  while (scrub_slots_left > 0) {
    scrub_slots_left--;
    const uint64_t slot = scrub_cursor;
    scrub_cursor = (scrub_cursor + 1) % log.size();
    const LogEntry& e = log[slot];
    if (!e.known || !e.present || e.writing) continue;
    if (e.header.op() <= checkpoint_op || e.header.op() > op) continue;
    scrub_reading = true;
    const uint64_t checksum = e.header.checksum();
    journal.verify_slot(e.header, true, [this, slot, checksum](Journal::SlotCheck check) {
      KEEL_ASSERT(scrub_reading);
      scrub_reading = false;
      scrub_found(slot, checksum, check);
      scrub_next();
    });
    return;
  }
}

void Replica::Impl::scrub_found(uint64_t slot, uint64_t checksum, Journal::SlotCheck check) {
  LogEntry& e = log[slot];
  if (!e.known || e.header.checksum() != checksum || e.writing) return;
  if (!check.prepare_intact) {
    // The body is damaged: fetch it again.
    e.present = false;
    e.scrub_damaged = true;
    e.repair_tick = 0;
  } else if (!check.ring_intact) {
    // Only the ring header is damaged: the body is fine, so the ring is written again.
    ring[slot].readable = false;
    e.writing = true;
    const uint64_t k = e.header.op();
    journal.write_ring(e.header, [this, slot, k, checksum](bool durable) {
      if (durable) ring[slot] = RingState{true, true, k, checksum, true};
      LogEntry& e = log[slot];
      if (e.known && e.header.checksum() == checksum) e.writing = false;
      if (durable) event(ReplicaEvent::scrub_repair);
    });
  }
}

// --- Checkpoints ---

std::string Replica::Impl::make_snapshot() const {
  proto::Snapshot snapshot;
  for (const auto& [client, session] : sessions) {
    proto::ClientSession* s = snapshot.add_sessions();
    s->set_client(session.client);
    s->set_session(session.session);
    s->set_request(session.request);
    s->set_op(session.op);
    s->set_reply(session.reply);
  }
  snapshot.set_state_machine(state_machine.snapshot());
  return snapshot.SerializeAsString();
}

bool Replica::Impl::restore_snapshot(std::string_view bytes) {
  proto::Snapshot snapshot;
  if (!snapshot.ParseFromArray(bytes.data(), static_cast<int>(bytes.size()))) return false;
  if (snapshot.sessions_size() > static_cast<int>(config.clients_max)) return false;
  if (!state_machine.restore(snapshot.state_machine())) return false;
  sessions.clear();
  for (const proto::ClientSession& s : snapshot.sessions()) {
    sessions[s.client()] = Session{s.client(), s.session(), s.request(), s.op(), s.reply()};
  }
  return true;
}

void Replica::Impl::checkpoint_if_due(const proto::Header& header) {
  if (header.op() % config.checkpoint_interval != 0) return;
  if (header.op() <= checkpoints.front().op()) return;
  std::string snapshot = make_snapshot();
  KEEL_ASSERT(snapshot.size() <= config.snapshot_size_bytes_max);
  proto::CheckpointId id;
  id.set_op(header.op());
  id.set_snapshot_checksum(body_checksum(snapshot));
  id.set_snapshot_size_bytes(snapshot.size());
  id.set_header_checksum(header.checksum());
  id.set_timestamp_ns(header.timestamp_ns());
  checkpointing = true;
  write_checkpoint(id, std::move(snapshot), [this] {
    checkpointing = false;
    event(ReplicaEvent::checkpoint_written);
    commit_ops();
    if (is_primary()) prepare_batch();
  });
}

// The area is written and synced first; the superblock then names it. A crash between leaves
// the superblock naming the older checkpoints only.
void Replica::Impl::write_checkpoint(const proto::CheckpointId& id, std::string snapshot,
                                     absl::AnyInvocable<void()> done) {
  const uint32_t area =
      static_cast<uint32_t>((id.op() / config.checkpoint_interval) % config.checkpoint_retention);
  auto rewrite = std::make_shared<std::string>(snapshot);
  journal.write_checkpoint(
      area, std::move(snapshot),
      [this, id, area, rewrite, done = std::move(done)](bool durable) mutable {
        if (!durable) {
          write_checkpoint(id, std::move(*rewrite), std::move(done));
          return;
        }
        std::vector<proto::CheckpointId> kept{id};
        for (const proto::CheckpointId& old : checkpoints) {
          const uint32_t old_area = static_cast<uint32_t>((old.op() / config.checkpoint_interval) %
                                                          config.checkpoint_retention);
          if (old.op() < id.op() && old_area != area && kept.size() < config.checkpoint_retention) {
            kept.push_back(old);
          }
        }
        checkpoints = std::move(kept);
        persist(std::move(done));
      });
}

// --- State transfer ---

void Replica::Impl::start_state_transfer(const char* why) {
  if (transfer.active || replica_count == 1) return;
  transfer = Transfer{};
  transfer.active = true;
  transfer.progress_tick = ticks;
  transfer.peer = primary_of(view) == self ? (self + 1) % replica_count : primary_of(view);
  event(ReplicaEvent::state_transfer_started);
  debug("state transfer: {}", why);
}

// The next op has been missing for a while and a peer has checkpointed past it: its body may be
// gone from every WAL within reach, so the state comes from that peer's checkpoint instead.
void Replica::Impl::check_commit_stall() {
  if (commit_min >= commit_max || status != Status::normal) {
    commit_stall_op = 0;
    return;
  }
  if (commit_stall_op != commit_min + 1) {
    commit_stall_op = commit_min + 1;
    commit_stall_tick = ticks;
    return;
  }
  if (ticks - commit_stall_tick < 4 * config.ticks(config.repair_timeout_ms)) return;
  for (uint32_t r = 0; r < replica_count; r++) {
    if (r == self || peer_checkpoint_op[r] <= commit_min) continue;
    start_state_transfer("the next op is missing and a peer has checkpointed past it");
    transfer.peer = r;
    transfer.optional = true;
    commit_stall_op = 0;
    return;
  }
}

void Replica::Impl::state_transfer_tick() {
  if (transfer.finishing) return;
  if (!transfer.active) {
    const bool behind =
        status == Status::normal && primary_of(view) != self &&
        primary_checkpoint_seen > commit_min &&
        primary_op_seen + 2 * uint64_t{config.pipeline_max} > commit_min + config.wal_slots;
    if (behind) {
      start_state_transfer("behind the primary's WAL");
      return;
    }
    check_commit_stall();
    return;
  }
  // Started for a stalled commit, it gives way to repair again if no peer sends a chunk: the
  // peer that checkpointed past the stall may be out of reach for good, and the ops may be in
  // reach in the WALs of the others (seed 8031 waited forever, repairing nothing meanwhile).
  if (transfer.optional &&
      ticks - transfer.progress_tick > config.ticks(config.recovery_timeout_ms)) {
    debug("state transfer: no chunk within the recovery timeout: back to repair");
    transfer = Transfer{};
    commit_stall_op = 0;
    return;
  }
  // The checkpoint it started on may have left every peer's retention since (seed 1338 asked for
  // op 864 forever): with no chunk for a recovery timeout, it takes any peer's newer one instead.
  // A recovering replica starts its recovery over instead (recovery_tick).
  if (status != Status::recovering && transfer.target.op() != 0 &&
      ticks - transfer.progress_tick > config.ticks(config.recovery_timeout_ms)) {
    debug("state transfer: no chunk of checkpoint op {} within the recovery timeout: any newer",
          transfer.target.op());
    transfer.target = proto::CheckpointId{};
    transfer.data.clear();
    transfer.progress_tick = ticks;
  }
  const uint64_t wait_ticks = config.ticks(config.repair_timeout_ms);
  if (transfer.request_tick != 0 && ticks - transfer.request_tick < wait_ticks) return;
  if (transfer.request_tick != 0) {
    transfer.peer = (transfer.peer + 1) % replica_count;
    if (transfer.peer == self) transfer.peer = (transfer.peer + 1) % replica_count;
  }
  transfer.request_tick = ticks;
  proto::RequestCheckpoint message;
  *message.mutable_checkpoint() = transfer.target;
  message.set_offset_bytes(transfer.data.size());
  message.set_replica(self);
  send(transfer.peer, Kind::request_checkpoint, message);
}

void Replica::Impl::on_request_checkpoint(const proto::RequestCheckpoint& message,
                                          io::NodeId from) {
  if (from >= replica_count || from == self || !state_loaded) return;
  if (status != Status::normal && status != Status::view_change) return;
  const proto::CheckpointId* id = nullptr;
  for (const proto::CheckpointId& retained : checkpoints) {
    const bool wanted =
        message.checkpoint().op() == 0
            ? &retained == &checkpoints.front()
            : retained.op() == message.checkpoint().op() &&
                  retained.snapshot_checksum() == message.checkpoint().snapshot_checksum();
    if (wanted) id = &retained;
  }
  debug("asked for checkpoint op {} offset {} by {}: have {}", message.checkpoint().op(),
        message.offset_bytes(), from, id == nullptr ? 0 : id->op());
  if (id == nullptr || id->snapshot_size_bytes() == 0) return;
  if (message.offset_bytes() >= id->snapshot_size_bytes()) return;
  const uint64_t size_bytes =
      std::min(config.checkpoint_chunk_bytes, id->snapshot_size_bytes() - message.offset_bytes());
  const uint32_t area =
      static_cast<uint32_t>((id->op() / config.checkpoint_interval) % config.checkpoint_retention);
  journal.read_checkpoint(area, message.offset_bytes(), size_bytes,
                          [this, from, id_copy = *id,
                           offset = message.offset_bytes()](std::optional<std::string> data) {
                            if (!data) return;
                            proto::CheckpointChunk chunk;
                            *chunk.mutable_checkpoint() = id_copy;
                            chunk.set_offset_bytes(offset);
                            chunk.set_data(std::move(*data));
                            chunk.set_replica(self);
                            send(from, Kind::checkpoint_chunk, chunk);
                          });
}

void Replica::Impl::on_checkpoint_chunk(const proto::CheckpointChunk& message) {
  if (!transfer.active || transfer.finishing || message.replica() >= replica_count) return;
  const proto::CheckpointId& id = message.checkpoint();
  debug("checkpoint chunk from {}: op {} offset {} size {} (target op {}, have {})",
        message.replica(), id.op(), message.offset_bytes(), message.data().size(),
        transfer.target.op(), transfer.data.size());
  if (id.snapshot_size_bytes() > config.snapshot_size_bytes_max) return;
  if (transfer.target.op() == 0) {
    // Newer than what it has, or (its own checkpoint unreadable) the state it lacks.
    if (id.op() < commit_min || (id.op() == commit_min && state_loaded)) {
      // It caught up by itself meanwhile: the transfer is over, and repair (which waits while a
      // transfer runs) fetches what follows (seed 4169 waited on both forever). Another peer's
      // newer checkpoint starts a new transfer if one is still needed.
      if (state_loaded) {
        debug("state transfer: not needed any more (commit {})", commit_min);
        transfer = Transfer{};
      }
      return;
    }
    transfer.target = id;
    transfer.data.clear();
  }
  if (id.op() != transfer.target.op() ||
      id.snapshot_checksum() != transfer.target.snapshot_checksum()) {
    return;
  }
  if (message.offset_bytes() != transfer.data.size()) return;
  if (transfer.data.size() + message.data().size() > id.snapshot_size_bytes()) return;
  transfer.data += message.data();
  transfer.request_tick = 0;
  transfer.progress_tick = ticks;
  if (transfer.data.size() == id.snapshot_size_bytes()) {
    finish_state_transfer();
    return;
  }
  state_transfer_tick();
}

void Replica::Impl::finish_state_transfer() {
  const proto::CheckpointId target = transfer.target;
  const bool empty = target.snapshot_size_bytes() == 0;
  if (!empty && body_checksum(transfer.data) != target.snapshot_checksum()) {
    transfer.data.clear();
    transfer.request_tick = 1;  // rotates to another peer at the next tick
    return;
  }
  if (!empty && !restore_snapshot(transfer.data)) {
    transfer.data.clear();
    transfer.request_tick = 1;
    return;
  }
  if (empty) sessions.clear();
  for (LogEntry& e : log) {
    if (e.known && e.header.op() <= target.op()) e = LogEntry{};
    if (!e.known && e.expected_op <= target.op()) e = LogEntry{};
  }
  transfer.commit_max_before = commit_max;
  commit_min = target.op();
  commit_min_checksum = target.header_checksum();
  raise_commit_max(commit_min, commit_min_checksum);
  last_timestamp_ns = std::max(last_timestamp_ns, target.timestamp_ns());
  applied_timestamp_ns = target.timestamp_ns();
  op = std::max(op, commit_min);
  state_loaded = true;
  transfer.finishing = true;
  // A primary's pipeline entries the checkpoint covers are committed; the client table in the
  // checkpoint answers their retries (and applies nothing twice if one is prepared again).
  const size_t pipeline_before = pipeline.size();
  while (!pipeline.empty() && pipeline.front().header.op() <= commit_min) pipeline.pop_front();
  if (pipeline.size() != pipeline_before) requests_in_flight.clear();
  std::string data = std::move(transfer.data);
  const auto done = [this] {
    transfer = Transfer{};
    event(ReplicaEvent::state_transfer_completed);
    if (status == Status::recovering) {
      const proto::RecoveryResponse chosen = recovery_responses.begin()->second;
      std::vector<proto::Header> headers(chosen.headers().begin(), chosen.headers().end());
      nack_floor_op = chosen.op();
      if (chosen.op() <= commit_min) {
        install_log(view, commit_min, commit_min_checksum, chosen.commit(), headers, false);
      } else {
        install_log(view, chosen.op(), chosen.head_checksum(), chosen.commit(), headers, false);
      }
      return;
    }
    for (LogEntry& e : log) e.verified = false;
    discard_unlinked_log();
    if (op > commit_min && has_entry(op)) {
      entry(op).verified = true;
      verify_chain_from(op);
    }
    commit_ops();
  };
  if (empty) {
    checkpoints = {target};
    done();
    return;
  }
  write_checkpoint(target, std::move(data), done);
}

}  // namespace keel::vsr
