// View changes (VRR 4.2) with protocol-aware recovery, and recovery of a replica that lost its
// superblock (VRR 4.3). docs/vsr.md explains the nack rule.

#include <algorithm>
#include <memory>

#include "core/vsr/replica_impl.h"
#include "io/assert.h"

namespace keel::vsr {
namespace {

bool slot_listed(const proto::DoViewChange& dvc, uint64_t slot) {
  return std::find(dvc.faulty_slots().begin(), dvc.faulty_slots().end(), slot) !=
         dvc.faulty_slots().end();
}

bool dvc_ring_holds(const proto::DoViewChange& dvc, uint64_t op, uint64_t checksum, bool any) {
  for (int i = 0; i < dvc.ring_ops_size(); i++) {
    if (dvc.ring_ops(i) == op && (any || dvc.ring_checksums(i) == checksum)) return true;
  }
  return false;
}

}  // namespace

// --- Starting a view change (VRR 4.2 steps 1-2) ---

void Replica::Impl::start_view_change(uint64_t new_view, bool increment_attempts) {
  KEEL_ASSERT(new_view >= view);
  KEEL_ASSERT(status != Status::recovering);
  // Adopting a log runs to its end (local writes only), so a log is never half old, half new.
  KEEL_ASSERT(!installing);
  const bool same = new_view == view && status == Status::view_change;
  if (!same) {
    status = Status::view_change;
    view = new_view;
    start_view_change_from.assign(replica_count, false);
    do_view_changes.clear();
    view_change_prepares.clear();
    view_change_headers.clear();
    do_view_change_sent = false;
    vote_durable = false;
    installing = false;
    pipeline.clear();
    request_queue.clear();
    requests_in_flight.clear();
    acked_op.assign(replica_count, 0);
    view_change_tick = ticks;
    if (increment_attempts) view_change_attempts++;
    event(ReplicaEvent::view_change_started);
    debug("view change to {} (log_view {} op {} commit {}/{})", view, log_view, op, commit_min,
          commit_max);
  }
  start_view_change_from[self] = true;
  send_start_view_change();
  if (same || replica_count == 1) {
    // It already promised this view before a restart (or needs nobody's agreement).
    if (!do_view_change_sent) {
      event(ReplicaEvent::view_change_voted);
      const uint64_t voted_view = view;
      persist([this, voted_view] {
        if (view != voted_view || status != Status::view_change || do_view_change_sent) return;
        do_view_change_sent = true;
        vote_durable = true;
        send_do_view_change();
      });
    }
  }
}

void Replica::Impl::send_start_view_change() {
  proto::StartViewChange message;
  message.set_view(view);
  message.set_replica(self);
  broadcast(Kind::start_view_change, message);
}

void Replica::Impl::on_start_view_change(const proto::StartViewChange& message) {
  if (status == Status::recovering || !starting_done || installing) return;
  if (message.replica() >= replica_count || message.replica() == self) return;
  if (message.view() < view) return;
  if (message.view() == view && status == Status::normal) return;
  if (message.view() > view) start_view_change(message.view(), false);
  start_view_change_from[message.replica()] = true;
  const uint32_t agreeing = static_cast<uint32_t>(
      std::count(start_view_change_from.begin(), start_view_change_from.end(), true));
  if (agreeing < quorum || do_view_change_sent) return;
  event(ReplicaEvent::view_change_voted);
  // The vote is a promise: it is durable before it is sent (docs/vsr.md, "View changes").
  const uint64_t voted_view = view;
  do_view_change_sent = true;
  persist([this, voted_view] {
    if (view != voted_view || status != Status::view_change) return;
    vote_durable = true;
    send_do_view_change();
  });
}

// --- The new primary collects the logs (VRR 4.2 steps 3-4) ---

proto::DoViewChange Replica::Impl::make_do_view_change() const {
  proto::DoViewChange dvc;
  dvc.set_view(view);
  dvc.set_log_view(log_view);
  dvc.set_op(op);
  dvc.set_commit_min(commit_min);
  dvc.set_commit_max(commit_max);
  dvc.set_checkpoint_op(newest_checkpoint_op());
  dvc.set_replica(self);
  dvc.set_nack_floor_op(nack_floor_op);
  dvc.set_log_view_op(log_view_op);
  dvc.set_head_checksum(header_checksum_of(op));
  dvc.set_commit_min_checksum(header_checksum_of(commit_min));
  dvc.set_commit_max_checksum(commit_max_checksum);
  for (uint64_t k = commit_min + 1; k <= op; k++) {
    const LogEntry* e = entry_if(k);
    if (e == nullptr || !e->verified) continue;
    *dvc.add_headers() = e->header;
    dvc.add_present(e->present);
  }
  for (uint64_t slot = 0; slot < ring.size(); slot++) {
    const RingState& r = ring[slot];
    if (!r.readable) dvc.add_faulty_slots(slot);
    // Only an entry written with its body can have been acknowledged.
    if (r.readable && r.has && r.with_body && r.op > commit_min) {
      dvc.add_ring_ops(r.op);
      dvc.add_ring_checksums(r.checksum);
    }
  }
  return dvc;
}

void Replica::Impl::send_do_view_change() {
  if (status != Status::view_change || !vote_durable) return;
  KEEL_ASSERT(do_view_change_sent);
  proto::DoViewChange dvc = make_do_view_change();
  debug("do_view_change {} to {}: log_view {} op {} commit {}/{} headers {} faulty {}", view,
        primary_of(view), log_view, op, commit_min, commit_max, dvc.headers_size(),
        dvc.faulty_slots_size());
  if (primary_of(view) == self) {
    do_view_changes[self] = std::move(dvc);
    try_finish_view_change();
    return;
  }
  send(primary_of(view), Kind::do_view_change, dvc);
}

void Replica::Impl::on_do_view_change(const proto::DoViewChange& message) {
  if (status == Status::recovering || !starting_done || installing) return;
  if (message.replica() >= replica_count || primary_of(message.view()) != self) return;
  if (message.view() < view) return;
  if (message.view() == view && status == Status::normal) {
    if (is_primary()) send(message.replica(), Kind::start_view, make_start_view());
    return;
  }
  if (message.view() > view) start_view_change(message.view(), false);
  do_view_changes[message.replica()] = message;
  try_finish_view_change();
}

// The new primary's decision. With a quorum of logs, including its own, it takes the log of the
// highest log_view and within it the highest op (VRR 4.2 step 4). Before it adopts that log it
// makes sure no committed op is lost to a damaged disk (Alagappan et al., "protocol-aware
// recovery"): an op whose body no one can supply, or a possible op hidden behind damaged slots,
// is dropped only if a quorum nacks it; otherwise the primary waits for more logs or a repair.
void Replica::Impl::try_finish_view_change() {
  if (status != Status::view_change || installing || primary_of(view) != self) return;
  if (do_view_changes.size() < quorum || do_view_changes.count(self) == 0) return;
  LogDecision d = gather_logs();
  if (d.head_checksum == 0) {
    debug("view {}: waiting, the head {} is known by number only", view, d.head);
    return;
  }
  if (d.commit_best > d.head) {
    debug("view {}: waiting, commit {} beyond head {}", view, d.commit_best, d.head);
    return;  // committed ops hidden by damage: wait for more logs
  }
  const uint64_t uncertain_max = uncertain_ops_max(d);
  if (uncertain_max > d.head && hidden_op_nacks(d, d.head + 1) < quorum) {
    debug("view {}: waiting, ops up to {} may hide behind damaged slots", view, uncertain_max);
    return;
  }
  extend_down_from(d, d.head, d.head_checksum);
  truncate_at_lowest_nacked(d);
  if (fetch_first_missing(d)) return;  // wait: a repair or another log may settle it
  if (d.head > commit_min && d.head > checkpoints.front().op() + config.wal_slots) {
    start_state_transfer("too far behind to lead the new view");
    return;
  }
  std::vector<proto::Header> headers;
  for (const auto& [k, header] : d.candidate) {
    if (k > commit_min && k <= d.head) headers.push_back(header);
  }
  debug("view {}: decided op {} commit {} from {} logs (log_view {})", view, d.head, d.commit_best,
        do_view_changes.size(), d.log_view_max);
  install_log(view, d.head, d.head_checksum, d.commit_best, headers, true);
}

uint64_t LogDecision::checksum_of(uint64_t k) const {
  const auto found = candidate.find(k);
  if (found != candidate.end()) return found->second.checksum();
  const auto next = candidate.find(k + 1);
  return next == candidate.end() ? 0 : next->second.parent();
}

bool LogDecision::in_hand(uint64_t k) const {
  const auto found = candidate.find(k);
  return found != candidate.end() && bodies.count(found->second.checksum()) > 0;
}

// The logs in hand: the highest log view, the highest commit, the head of the newest logs, the
// entries they name, and which bodies can be had.
LogDecision Replica::Impl::gather_logs() const {
  LogDecision d;
  for (const auto& [replica, dvc] : do_view_changes) {
    d.log_view_max = std::max(d.log_view_max, dvc.log_view());
    d.commit_best = std::max(d.commit_best, dvc.commit_max());
  }
  for (const auto& [replica, dvc] : do_view_changes) {
    for (int i = 0; i < dvc.headers_size(); i++) {
      const proto::Header& header = dvc.headers(i);
      if (dvc.log_view() == d.log_view_max) {
        const auto [it, inserted] = d.candidate.emplace(header.op(), header);
        // One view, one log: canonical logs agree wherever they overlap.
        KEEL_ASSERT(inserted || it->second.checksum() == header.checksum());
      }
      if (dvc.present(i)) d.bodies.insert(header.checksum());
    }
    if (dvc.log_view() == d.log_view_max && dvc.op() >= d.head) {
      // One view, one log: two logs of the same view agree on their common head. A checksum of
      // 0 says only that the sender knows the op by number (it is repairing it).
      const bool same_head = dvc.op() == d.head && d.head_checksum != 0 && dvc.head_checksum() != 0;
      KEEL_ASSERT(!same_head || d.head_checksum == dvc.head_checksum());
      if (dvc.op() > d.head || d.head_checksum == 0) d.head_checksum = dvc.head_checksum();
      d.head = dvc.op();
    }
  }
  for (uint64_t k = commit_min + 1; k <= op; k++) {
    const LogEntry* e = entry_if(k);
    if (e == nullptr) continue;
    if (e->present) d.bodies.insert(e->header.checksum());
    // One view, one log: an entry prepared in the newest log view is in that view's log, even
    // where a lost op breaks the chain that would verify it (seed 8113 waited forever so).
    if (e->known && e->header.view() == d.log_view_max) {
      const auto [it, inserted] = d.candidate.emplace(k, e->header);
      KEEL_ASSERT(inserted || it->second.checksum() == e->header.checksum());
    }
  }
  // Bodies fetched from peers while deciding (seed 3518 waited forever for a body it held here).
  for (const auto& [checksum, prepare] : view_change_prepares) d.bodies.insert(checksum);
  return d;
}

// Whether a log says its replica never acknowledged op k (with this checksum, or any).
bool Replica::Impl::nacked_by(const proto::DoViewChange& dvc, uint64_t k, uint64_t checksum,
                              bool any) const {
  if (k <= dvc.commit_min() || k <= dvc.nack_floor_op()) return false;
  if (slot_listed(dvc, journal.slot_of(k))) return false;
  return !dvc_ring_holds(dvc, k, checksum, any);
}

uint32_t Replica::Impl::nacks(uint64_t k, uint64_t checksum, bool any) const {
  uint32_t count = 0;
  for (const auto& [replica, dvc] : do_view_changes) {
    if (nacked_by(dvc, k, checksum, any)) count++;
  }
  return count;
}

// Nacks of an op k beyond every canonical head, hidden (perhaps) behind a canonical log's
// damaged slots. If k was not in the starting log of view log_view_max, k can only have been
// prepared in view log_view_max itself. A replica of an older log view never acknowledged a
// prepare of that view (a log view is durable before its prepares are acknowledged, VRR 4.2
// step 5), so its log nacks k whatever its slots hold. A canonical log shows k was not in the
// starting log in either of two ways: its intact slot lacks k (every member installed that log
// durably before taking its log view; seed 6651 waited forever on an op 126 of log view 102,
// against a damaged slot of log view 103), or k lies beyond the head that log began with
// (seed 3686 waited forever on an op 84 behind the damaged slot of the one replica of log view
// 15, which began at op 83). A log view may begin at op 0 (nothing was ever committed): 0 is a
// head like any other (seed 7049 waited forever on an op 1 of log view 20 so).
uint32_t Replica::Impl::hidden_op_nacks(const LogDecision& d, uint64_t k) const {
  KEEL_ASSERT(k > d.head);
  bool canonical_lacks = false;
  for (const auto& [replica, dvc] : do_view_changes) {
    if (dvc.log_view() != d.log_view_max) continue;
    const bool beyond_start = k > dvc.log_view_op();
    if (beyond_start || nacked_by(dvc, k, 0, true)) canonical_lacks = true;
  }
  uint32_t count = 0;
  for (const auto& [replica, dvc] : do_view_changes) {
    const bool older_log_view = canonical_lacks && dvc.log_view() < d.log_view_max &&
                                k > dvc.commit_min() && k > dvc.nack_floor_op();
    if (older_log_view || nacked_by(dvc, k, 0, true)) count++;
  }
  return count;
}

// A canonical log may have lost (to damaged slots) ops after its head that it acknowledged: the
// highest op such a loss may hide.
uint64_t Replica::Impl::uncertain_ops_max(const LogDecision& d) const {
  uint64_t uncertain_max = d.head;
  for (const auto& [replica, dvc] : do_view_changes) {
    if (dvc.log_view() != d.log_view_max) continue;
    for (uint64_t k = dvc.op() + 1; k <= dvc.checkpoint_op() + config.wal_slots; k++) {
      if (!slot_listed(dvc, journal.slot_of(k))) break;
      uncertain_max = std::max(uncertain_max, k);
    }
  }
  return uncertain_max;
}

// The log is named down from a head, link by link: by entries fetched while deciding and by
// this replica's own entries, each named by the checksum its successor gives as parent. The
// head itself is named by its checksum even where no log in hand carries its header (a replica
// restarted in the newest log view knows its head from its superblock only): once fetched, it
// starts the chain (seed 4415 waited forever, fetching nothing). An own entry the chain names
// is that entry, verified or not (seed 2225 waited forever for a body only it held).
const proto::Header* Replica::Impl::named_by_checksum(uint64_t k, uint64_t checksum) const {
  const auto fetched = view_change_headers.find(checksum);
  if (fetched != view_change_headers.end() && fetched->second.op() == k) return &fetched->second;
  const LogEntry* own = entry_if(k);
  if (own != nullptr && own->known && own->header.checksum() == checksum) return &own->header;
  return nullptr;
}

void Replica::Impl::extend_down_from(LogDecision& d, uint64_t top, uint64_t top_checksum) const {
  if (d.candidate.count(top) == 0) {
    const proto::Header* header = named_by_checksum(top, top_checksum);
    if (header != nullptr) d.candidate.emplace(top, *header);
  }
  for (uint64_t k = top; k > d.commit_best + 1; k--) {
    const auto upper = d.candidate.find(k);
    if (upper == d.candidate.end() || d.candidate.count(k - 1) > 0) continue;
    const proto::Header* header = named_by_checksum(k - 1, upper->second.parent());
    if (header != nullptr) d.candidate.emplace(k - 1, *header);
  }
}

// The checksum of op k - 1 when op k is dropped: it becomes the head. A head that is a
// committed op no log lists (logs list only what their replicas have not applied) is named by
// the log that applied it (seed 5616 waited forever for it), or by a log that knows it as its
// commit (seed 3357). Otherwise a log of the newest log view names it in its ring: installing
// that log wrote every entry from the log's commit to the head it began with into the ring (or
// left the slot unreadable), so a ring entry of such a log in that range is an entry of that log
// (seed 1561: the only log of the newest view had lost the links above the new head to damage).
// Beyond that head a ring entry may be a leftover of an older view that this view's prepare has
// not replaced yet (seed 4250). 0: not known.
uint64_t Replica::Impl::identity_below(const LogDecision& d, uint64_t k) const {
  KEEL_ASSERT(k > 0);
  const auto below = d.candidate.find(k - 1);
  if (below != d.candidate.end()) return below->second.checksum();
  const auto found = d.candidate.find(k);
  if (found != d.candidate.end()) return found->second.parent();
  uint64_t named = 0;
  for (const auto& [replica, dvc] : do_view_changes) {
    if (dvc.commit_min() == k - 1) return dvc.commit_min_checksum();
    if (dvc.commit_max() == k - 1 && dvc.commit_max_checksum() != 0) {
      return dvc.commit_max_checksum();
    }
    if (dvc.log_view() != d.log_view_max || k - 1 <= dvc.commit_max()) continue;
    if (k - 1 > dvc.log_view_op()) continue;  // may be a leftover its view has not reached
    for (int i = 0; i < dvc.ring_ops_size(); i++) {
      if (dvc.ring_ops(i) != k - 1) continue;
      // One view, one log: logs of the newest log view agree on it.
      KEEL_ASSERT(named == 0 || named == dvc.ring_checksums(i));
      named = dvc.ring_checksums(i);
    }
  }
  return named;
}

// Drops the lowest op no one can supply that a quorum nacks: a quorum never acknowledged it, so
// neither it nor any op after it was committed (commits are cumulative), whatever still waits
// below it (seed 1561 waited forever for an op below two such ops). An entry no log in hand
// names is nacked only where the slot holds no op k at all.
void Replica::Impl::truncate_at_lowest_nacked(LogDecision& d) {
  for (uint64_t k = d.commit_best + 1; k <= d.head; k++) {
    if (d.in_hand(k)) continue;
    const uint64_t checksum = d.checksum_of(k);
    const bool unnamed = checksum == 0;
    if (nacks(k, checksum, unnamed) < quorum) continue;
    const uint64_t below = identity_below(d, k);
    if (below == 0) {
      // Not yet: what waits below is fetched first, and may name it (seed 3357 fetched nothing).
      debug("view {}: op {} is nacked, but the identity of op {} is unknown yet", view, k, k - 1);
      return;
    }
    event(ReplicaEvent::truncated_by_nacks);
    debug("view {}: op {} ({:016x}) has no body in reach and {} nacks: truncated", view, k,
          checksum, nacks(k, checksum, unnamed));
    d.head = k - 1;
    d.head_checksum = below;
    extend_down_from(d, d.head, d.head_checksum);
    return;
  }
}

// Every op up to the head must be in hand: asks for the first that is not. True: it waits.
bool Replica::Impl::fetch_first_missing(const LogDecision& d) {
  for (uint64_t k = d.commit_best + 1; k <= d.head; k++) {
    if (d.in_hand(k)) continue;
    const uint64_t checksum = d.checksum_of(k);
    if (checksum != 0) {
      request_prepare(k, checksum);
    } else if (d.candidate.count(d.head) == 0) {
      request_prepare(d.head, d.head_checksum);  // the chain starts at the head
    } else {
      // The chain down from the head has not reached k yet: fetch the lowest entry it names
      // (seed 8113 waited forever for an op no log in hand named).
      for (uint64_t j = k + 1; j < d.head; j++) {
        const auto above = d.candidate.find(j + 1);
        if (d.candidate.count(j) == 0 && above != d.candidate.end()) {
          request_prepare(j, above->second.parent());
          break;
        }
      }
    }
    debug("view {}: waiting for op {} ({:016x}): no body, {} nacks", view, k, checksum,
          nacks(k, checksum, checksum == 0));
    return true;
  }
  return false;
}

// --- Adopting a log (VRR 4.2 step 5) ---

// Writes the entries of the new log that differ from its own (header only: bodies are fetched
// later), forgets entries after the new head, clears damaged slots that hold nothing, and only
// then records the new log view durably. A crash in between leaves the old log view on disk,
// whose log is unchanged where it matters: every entry written here is of the new log.
void Replica::Impl::install_log(uint64_t new_view, uint64_t new_op, uint64_t new_op_checksum,
                                uint64_t new_commit, const std::vector<proto::Header>& headers,
                                bool as_primary) {
  KEEL_ASSERT(new_op >= commit_min);
  KEEL_ASSERT(new_op_checksum != 0);
  // The committed prefix never changes: a new log ending at an applied op ends at the same op.
  KEEL_ASSERT(new_op != commit_min || !state_loaded || new_op_checksum == commit_min_checksum);
  installing = true;
  auto pending = std::make_shared<uint32_t>(1);
  auto failed = std::make_shared<bool>(false);
  const auto finish = [this, new_view, new_op, new_op_checksum, new_commit, as_primary, pending,
                       failed](bool durable) {
    if (!durable) *failed = true;
    if (--*pending > 0) return;
    if (view != new_view || !installing) return;
    if (*failed) {
      installing = false;  // the view change times out and is tried again
      view_change_tick = ticks;
      return;
    }
    clear_faulty_slots_then([this, new_view, new_op, new_op_checksum, new_commit, as_primary] {
      if (view != new_view || !installing) return;
      log_view = new_view;
      log_view_op = new_op;
      log_view_head_checksum = new_op_checksum;
      raise_commit_max(new_commit, 0);
      persist([this, new_view, new_op, as_primary] {
        if (view != new_view || !installing) return;
        become_normal(new_view, new_op, as_primary);
      });
    });
  };
  // The new log is trusted from its head down, link by link; nothing of the old log is, nor
  // what the old chain expected of a slot (seed 2183: a backup asked forever for an op by the
  // checksum an abandoned branch had named).
  for (LogEntry& e : log) {
    e.verified = false;
    if (!e.known) e.expected_op = e.expected_checksum = 0;
  }
  truncate_after(std::max(commit_min, std::min(op, new_op)));
  for (const proto::Header& header : headers) {
    if (header.op() <= commit_min || header.op() > new_op || !can_write(header.op())) continue;
    const LogEntry* e = entry_if(header.op());
    const auto fetched = view_change_prepares.find(header.checksum());
    const bool body_fetched = fetched != view_change_prepares.end();
    if (e != nullptr && e->header.checksum() == header.checksum() &&
        (e->present || e->writing || !body_fetched)) {
      continue;
    }
    if (body_fetched) {
      (*pending)++;
      put_entry(header, fetched->second.body(), finish);
      continue;
    }
    const RingState& r = ring[journal.slot_of(header.op())];
    if (!r.readable) {
      // A damaged slot may hold an entry this replica acknowledged: the header written there
      // without its body would read as a nack of it (PAR; seed 3518 truncated a committed op
      // so). The entry waits in memory for its body, which repair writes with it.
      LogEntry& waiting = entry(header.op());
      if (waiting.writing) continue;
      waiting = LogEntry{};
      waiting.header = header;
      waiting.known = true;
      continue;
    }
    if (r.has && r.op == header.op() && r.checksum == header.checksum() && r.with_body) {
      // The disk holds this very entry with its body (forgotten in memory): never overwrite a
      // body with a header; a read at commit finds out whether the body is still intact.
      LogEntry& slot = entry(header.op());
      if (slot.writing) continue;
      slot = LogEntry{};
      slot.header = header;
      slot.known = true;
      slot.present = true;
      continue;
    }
    (*pending)++;
    put_entry(header, std::nullopt, finish);
  }
  op = new_op;
  for (const proto::Header& header : headers) {
    last_timestamp_ns = std::max(last_timestamp_ns, header.timestamp_ns());
  }
  if (op > commit_min) {
    LogEntry& head = entry(op);
    if (head.known && head.header.op() == op && head.header.checksum() == new_op_checksum) {
      head.verified = true;
      verify_chain_from(op);
    } else {
      // Another entry, even one still being written (the old primary's own prepare of that op,
      // seed 9758): the new log names its head, and repair fetches it. The write, when done,
      // records in the ring what it left on disk and leaves this entry alone.
      expect_entry(head, op, new_op_checksum);
    }
  }
  // An entry of the old log that the new log proves stale (its chain names another checksum for
  // that op) must not outlive a restart: after one, the new log view would make it look like part
  // of the new log. Entries the chain has not reached yet are kept: they may be the right ones.
  for (uint64_t k = commit_min + 1; k <= op; k++) {
    LogEntry& e = entry(k);
    const uint64_t slot = journal.slot_of(k);
    const RingState& r = ring[slot];
    const bool stale = !e.known && e.expected_op == k && e.expected_checksum != 0 && r.has &&
                       r.op == k && r.checksum != e.expected_checksum;
    if (!stale || e.writing) continue;
    (*pending)++;
    e.writing = true;
    journal.clear_slot(slot, [this, slot, finish](bool durable) mutable {
      if (durable) ring[slot] = RingState{};
      log[slot].writing = false;
      finish(durable);
    });
  }
  finish(true);
}

void Replica::Impl::clear_faulty_slots_then(absl::AnyInvocable<void()> done) {
  auto pending = std::make_shared<uint32_t>(1);
  auto done_shared = std::make_shared<absl::AnyInvocable<void()>>(std::move(done));
  const auto one_done = [pending, done_shared](bool) {
    if (--*pending == 0) (*done_shared)();
  };
  // Committed ops after the newest checkpoint are in the log too (seed 6436 lost op 229 on
  // every replica when a backup cleared its copy here because it had applied it).
  const uint64_t log_first_op = newest_checkpoint_op() + 1;
  for (uint64_t slot = 0; slot < ring.size(); slot++) {
    const LogEntry& e = log[slot];
    const bool in_log = (e.known && e.header.op() >= log_first_op && e.header.op() <= op) ||
                        (!e.known && e.expected_op >= log_first_op && e.expected_op <= op);
    if (ring[slot].readable || in_log || e.writing) continue;
    (*pending)++;
    journal.clear_slot(slot, [this, slot, one_done](bool durable) mutable {
      if (durable) ring[slot] = RingState{};
      one_done(durable);
    });
  }
  one_done(true);
}

void Replica::Impl::become_normal(uint64_t new_view, uint64_t new_op, bool as_primary) {
  KEEL_ASSERT(view == new_view);
  KEEL_ASSERT(log_view == new_view);
  if (status == Status::recovering) event(ReplicaEvent::recovery_completed);
  status = Status::normal;
  installing = false;
  do_view_changes.clear();
  view_change_prepares.clear();
  view_change_headers.clear();
  do_view_change_sent = false;
  vote_durable = false;
  view_change_attempts = 0;
  primary_contact_tick = ticks;
  commit_progress_tick = ticks;
  commit_progress_seen = commit_max;
  primary_op_seen = new_op;  // a truncated old head must not look like pending work
  event(ReplicaEvent::view_started);
  debug("normal in view {} as {}: op {} commit {}/{}", view, as_primary ? "primary" : "backup", op,
        commit_min, commit_max);
  if (as_primary) {
    KEEL_ASSERT(primary_of(view) == self);
    pipeline.clear();
    for (uint64_t k = commit_max + 1; k <= new_op; k++) {
      const LogEntry* e = entry_if(k);
      if (e != nullptr) pipeline.push_back(Pending{e->header, std::nullopt});
    }
    acked_op.assign(replica_count, 0);
    broadcast(Kind::start_view, make_start_view());
    send_heartbeat();
    advance_commit_max_from_acks();
  } else {
    send_prepare_ok();
  }
  commit_ops();
}

proto::StartView Replica::Impl::make_start_view() const {
  proto::StartView message;
  message.set_view(view);
  message.set_op(op);
  message.set_commit(commit_max);
  message.set_replica(self);
  message.set_checkpoint_op(newest_checkpoint_op());
  message.set_head_checksum(header_checksum_of(op));
  // From the commit (applied or not) to the head: the head is always named by its header when
  // this replica still has it, so a backup can replace a stale entry at the head.
  const uint64_t checkpoint_op = newest_checkpoint_op();
  for (uint64_t k = std::max(commit_max, checkpoint_op + 1); k <= op; k++) {
    const LogEntry* e = entry_if(k);
    if (e != nullptr) *message.add_headers() = e->header;
  }
  return message;
}

void Replica::Impl::on_start_view(const proto::StartView& message, io::NodeId from) {
  if (status == Status::recovering || !starting_done || installing) return;
  if (from != primary_of(message.view()) || from == self) return;
  if (message.view() < view) return;
  if (message.view() == view && status == Status::normal) return;
  for (const proto::Header& header : message.headers()) {
    if (!header_valid(header, env.cluster_id)) return;
  }
  if (message.view() > view || status != Status::view_change) {
    start_view_change(message.view(), false);
  }
  primary_checkpoint_seen = std::max(primary_checkpoint_seen, message.checkpoint_op());
  primary_op_seen = std::max(primary_op_seen, message.op());
  if (message.op() < commit_min) return;  // from before a checkpoint it has: wait for newer
  if (message.op() > newest_checkpoint_op() + config.wal_slots) {
    start_state_transfer("the new view's log is beyond its WAL");
    return;
  }
  std::vector<proto::Header> headers(message.headers().begin(), message.headers().end());
  debug("start_view {} from {}: op {} commit {}", message.view(), from, message.op(),
        message.commit());
  if (message.head_checksum() == 0) return;
  install_log(message.view(), message.op(), message.head_checksum(), message.commit(), headers,
              false);
}

void Replica::Impl::on_request_start_view(const proto::RequestStartView& message, io::NodeId from) {
  if (from >= replica_count || from == self || !is_primary()) return;
  if (message.view() > view) return;
  send(from, Kind::start_view, make_start_view());
}

void Replica::Impl::request_start_view(uint64_t newer_view) {
  if (status == Status::recovering || installing) return;
  if (ticks - start_view_requested_tick < 4 && start_view_requested_tick != 0) return;
  start_view_requested_tick = ticks;
  proto::RequestStartView message;
  message.set_view(newer_view);
  message.set_replica(self);
  send(primary_of(newer_view), Kind::request_start_view, message);
}

// --- Recovery (VRR 4.3) ---

void Replica::Impl::start_recovery() {
  status = Status::recovering;
  starting_done = true;
  state_loaded = false;
  event(ReplicaEvent::recovery_started);
  debug("recovering: no superblock");
  recovery_nonce = env.random.next_u64() | 1;
  recovery_tick_started = ticks;
  recovery_responses.clear();
  proto::Recovery message;
  message.set_nonce(recovery_nonce);
  message.set_replica(self);
  broadcast(Kind::recovery, message);
}

void Replica::Impl::recovery_tick() {
  if (transfer.active) {
    // The chosen checkpoint may have left every peer's retention since the responses came
    // (seed 959 asked for op 80 forever): with no chunk for a recovery timeout, start over
    // with fresh responses, which name a checkpoint the primary still has.
    if (transfer.finishing ||
        ticks - transfer.progress_tick <= config.ticks(config.recovery_timeout_ms)) {
      return;
    }
    debug("recovery: no chunk of checkpoint op {} within the recovery timeout: asking again",
          transfer.target.op());
    transfer = Transfer{};
    recovery_responses.clear();
    recovery_tick_started = ticks;
    recovery_nonce = env.random.next_u64() | 1;
  }
  if (ticks - recovery_tick_started > config.ticks(config.recovery_timeout_ms)) {
    recovery_nonce = env.random.next_u64() | 1;
    recovery_tick_started = ticks;
    recovery_responses.clear();
  }
  if (ticks % 4 != 0) return;
  proto::Recovery message;
  message.set_nonce(recovery_nonce);
  message.set_replica(self);
  broadcast(Kind::recovery, message);
}

void Replica::Impl::on_recovery(const proto::Recovery& message, io::NodeId from) {
  if (status != Status::normal || from >= replica_count || from == self) return;
  proto::RecoveryResponse response;
  response.set_nonce(message.nonce());
  response.set_view(view);
  response.set_replica(self);
  response.set_primary(is_primary());
  if (is_primary()) {
    response.set_op(op);
    response.set_commit(commit_max);
    const proto::StartView start_view = make_start_view();
    *response.mutable_headers() = start_view.headers();
    *response.mutable_checkpoint() = checkpoints.front();
    response.set_head_checksum(header_checksum_of(op));
  }
  send(from, Kind::recovery_response, response);
}

void Replica::Impl::on_recovery_response(const proto::RecoveryResponse& message) {
  if (status != Status::recovering || transfer.active) return;
  if (message.nonce() != recovery_nonce || message.replica() >= replica_count) return;
  recovery_responses[message.replica()] = message;
  const uint32_t faults_max = (replica_count - 1) / 2;
  if (recovery_responses.size() < faults_max + 1) return;
  uint64_t view_max = 0;
  for (const auto& [replica, response] : recovery_responses) {
    view_max = std::max(view_max, response.view());
  }
  const auto primary = recovery_responses.find(primary_of(view_max));
  if (primary == recovery_responses.end() || primary->second.view() != view_max ||
      !primary->second.primary()) {
    return;
  }
  const proto::RecoveryResponse chosen = primary->second;  // a copy: the map is reset below
  for (const proto::Header& header : chosen.headers()) {
    if (!header_valid(header, env.cluster_id)) return;
  }
  view = view_max;
  commit_max = chosen.commit();
  commit_max_checksum = 0;
  transfer = Transfer{};
  transfer.active = true;
  transfer.target = chosen.checkpoint();
  transfer.peer = primary_of(view_max);
  transfer.progress_tick = ticks;
  event(ReplicaEvent::state_transfer_started);
  // Kept for when the checkpoint is in: see finish_state_transfer.
  recovery_responses.clear();
  recovery_responses[chosen.replica()] = chosen;
  if (transfer.target.snapshot_size_bytes() == 0) finish_state_transfer();
}

}  // namespace keel::vsr
