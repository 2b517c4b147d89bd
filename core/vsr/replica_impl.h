#pragma once
// The replica's internals, shared by its source files (replica.cc: normal operation and
// start-up; view_change.cc: view changes and recovery; repair.cc: repair, scrubbing, state
// transfer and checkpoints). Not part of the public interface.

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <cstdint>
#include <deque>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <tuple>
#include <vector>

#include "core/vsr/body_cache.h"
#include "core/vsr/clock_sync.h"
#include "core/vsr/header.h"
#include "core/vsr/journal.h"
#include "core/vsr/messages.pb.h"
#include "core/vsr/replica.h"
#include "core/vsr/superblock.h"
#include "core/vsr/wire.h"

namespace keel::vsr {

// One WAL slot as the protocol sees it.
struct LogEntry {
  proto::Header header;
  bool known = false;     // header is the entry of op header.op() in this replica's log
  bool verified = false;  // linked by the hash chain to the log's head
  bool applied = false;   // this replica executed it: committed, so safe to serve by number
  bool present = false;   // its body is durable on this disk
  bool writing = false;
  uint64_t expected_checksum = 0;  // when !known: the checksum the chain demands (0: unknown)
  uint64_t expected_op = 0;        // when !known: the op this slot must hold (0: none)
  uint64_t repair_tick = 0;        // when it was last asked of a peer
  uint32_t repair_asks = 0;        // how often: each ask goes to the next peer
  bool scrub_damaged = false;      // the scrubber found it damaged; counted once repaired
};

// What the redundant header ring durably holds for a slot: the basis of nacks.
struct RingState {
  bool readable = true;
  bool has = false;
  uint64_t op = 0;
  uint64_t checksum = 0;
  bool with_body = false;  // written with the body: only then may the entry be acknowledged
};

struct Session {
  uint64_t client = 0;
  uint64_t session = 0;
  uint64_t request = 0;
  uint64_t op = 0;
  std::string reply;
};

// An op the primary prepared in this view and has not committed yet.
struct Pending {
  proto::Header header;
  std::optional<std::string> body;  // absent after a view change until repaired
  uint32_t requests = 0;            // client requests it carries, as far as this replica knows
};

// What a new primary gathers from the logs in hand while it decides the new view's log
// (view_change.cc, try_finish_view_change).
struct LogDecision {
  uint64_t log_view_max = 0;
  uint64_t commit_best = 0;    // the highest commit any log knows
  uint64_t head = 0;           // the head of the new log: at first, the newest logs' highest op
  uint64_t head_checksum = 0;  // 0: known by number only
  std::map<uint64_t, proto::Header> candidate;  // by op: the entries of the new log named so far
  std::set<uint64_t> bodies;                    // checksums of the bodies some replica can supply

  uint64_t checksum_of(uint64_t k) const;  // named, or as its successor's parent; 0: not known
  bool in_hand(uint64_t k) const;          // named, and its body can be had
};

struct Replica::Impl {
  Impl(const Config& config, io::Env env, uint32_t replica, StateMachine& state_machine,
       ReplicaObserver* observer);
  ~Impl();

  // --- replica.cc: start-up ---
  void start();
  void on_superblock_opened(const Superblock::OpenResult& result);
  void load_checkpoint(size_t index);
  void on_journal_read(std::vector<Journal::SlotRead> slots);
  void anchor_window(const std::vector<Journal::SlotRead>& slots);
  void classify_slot(uint64_t slot, const Journal::SlotRead& read);
  void choose_head();
  void finish_start();

  // --- replica.cc: messages and ticks ---
  void receive(io::NodeId from, uint16_t kind, std::span<const uint8_t> body);
  void dispatch(io::NodeId from, uint16_t kind, std::span<const uint8_t> body);
  void tick();
  void schedule_tick();
  void on_request(const proto::Request& request, io::NodeId from);
  void on_prepare(const proto::Prepare& prepare, io::NodeId from);
  void on_prepare_ok(const proto::PrepareOk& message);
  void on_commit(const proto::Commit& message);
  void on_ping(const proto::Ping& message, io::NodeId from);
  void on_pong(const proto::Pong& message);
  void primary_tick();
  void backup_tick();
  void prepare_batch();
  // Whether the next prepare waits for more requests (Config::batch_delay_us); if so, a timer
  // runs prepare_batch again when the wait is over.
  bool batch_held();
  // Ends the hold on the next prepare (the prepare goes now), with its wake-up.
  void end_batch_hold();
  void hold_next_batch(uint32_t requests_answered);
  void send_prepare(const Pending& pending, uint32_t to);
  void send_heartbeat();
  void send_prepare_ok();
  void advance_commit_max_from_acks();
  void raise_commit_max(uint64_t commit, uint64_t checksum);
  void reply_to_client(const proto::Request& request, const proto::Reply& reply);
  void remember_client(uint64_t client, io::NodeId from);

  // --- replica.cc: the log ---
  LogEntry& entry(uint64_t op) { return log[journal.slot_of(op)]; }
  const LogEntry* entry_if(uint64_t op) const;
  bool has_entry(uint64_t op) const;  // known, for exactly op
  // Writes an entry (with or without body) into the log and the journal.
  void put_entry(const proto::Header& header, std::optional<std::string> body,
                 absl::AnyInvocable<void(bool)> done);
  void verify_chain_from(uint64_t op_top);
  // Makes a slot wait for the entry (op, checksum) that the log names; see replica.cc.
  static void expect_entry(LogEntry& e, uint64_t op_wanted, uint64_t checksum);
  uint64_t durable_through() const;
  void discard_unlinked_log();
  bool ring_holds(const LogEntry& e) const;  // highest op such that every op up to it is present
  bool can_write(uint64_t op_new) const;
  void truncate_after(uint64_t op_new);
  uint64_t header_checksum_of(uint64_t op) const;

  // --- replica.cc: commit ---
  void commit_ops();
  void apply_prepare(const proto::Header& header, const std::string& body);
  void apply_request(const proto::Header& header, const proto::Request& request);
  void after_commit(const proto::Header& header);
  Session* find_session(uint64_t client);
  void evict_one();
  uint64_t replicated_checksum() const;

  // --- view_change.cc ---
  void start_view_change(uint64_t new_view, bool increment_attempts);
  void on_start_view_change(const proto::StartViewChange& message);
  void on_do_view_change(const proto::DoViewChange& message);
  void on_start_view(const proto::StartView& message, io::NodeId from);
  void on_request_start_view(const proto::RequestStartView& message, io::NodeId from);
  void send_start_view_change();
  void send_do_view_change();
  proto::DoViewChange make_do_view_change() const;
  void try_finish_view_change();
  LogDecision gather_logs() const;
  bool nacked_by(const proto::DoViewChange& dvc, uint64_t k, uint64_t checksum, bool any) const;
  uint32_t nacks(uint64_t k, uint64_t checksum, bool any) const;
  uint32_t hidden_op_nacks(const LogDecision& d, uint64_t k) const;
  uint64_t uncertain_ops_max(const LogDecision& d) const;
  const proto::Header* named_by_checksum(uint64_t k, uint64_t checksum) const;
  void extend_down_from(LogDecision& d, uint64_t top, uint64_t top_checksum) const;
  uint64_t identity_below(const LogDecision& d, uint64_t k) const;
  void truncate_at_lowest_nacked(LogDecision& d);
  bool fetch_first_missing(const LogDecision& d);
  void install_log(uint64_t new_view, uint64_t new_op, uint64_t new_op_checksum,
                   uint64_t new_commit, const std::vector<proto::Header>& headers, bool as_primary);
  void become_normal(uint64_t new_view, uint64_t new_op, bool as_primary);
  proto::StartView make_start_view() const;
  void request_start_view(uint64_t newer_view);
  void start_recovery();
  void on_recovery(const proto::Recovery& message, io::NodeId from);
  void on_recovery_response(const proto::RecoveryResponse& message);
  void recovery_tick();
  // Clears slots whose ring is unreadable and that hold nothing of the log, so that a later view
  // change can count them as nacks.
  void clear_faulty_slots_then(absl::AnyInvocable<void()> done);

  // --- repair.cc ---
  void repair_tick();
  void request_prepare(uint64_t op, uint64_t checksum, uint32_t ask = 0);
  void on_request_prepare(const proto::RequestPrepare& message, io::NodeId from);
  // Reads op's prepare from the WAL and sends it to a peer if it still has this checksum.
  void send_prepare_from_wal(uint64_t op, uint64_t checksum, io::NodeId to, bool from_log);
  void on_prepare_repair(const proto::Prepare& prepare, io::NodeId from);
  void scrub_tick();
  void scrub_next();
  void scrub_found(uint64_t slot, uint64_t checksum, Journal::SlotCheck check);
  void checkpoint_if_due(const proto::Header& header);
  void write_checkpoint(const proto::CheckpointId& id, std::string snapshot,
                        absl::AnyInvocable<void()> done);
  std::string make_snapshot() const;
  bool restore_snapshot(std::string_view snapshot);
  void state_transfer_tick();
  void check_commit_stall();
  void start_state_transfer(const char* why);
  void on_request_checkpoint(const proto::RequestCheckpoint& message, io::NodeId from);
  void on_checkpoint_chunk(const proto::CheckpointChunk& message);
  void finish_state_transfer();

  // --- superblock ---
  proto::SuperblockState superblock_state() const;
  // Durably records view, log view, commit and checkpoints; done runs once they are.
  void persist(absl::AnyInvocable<void()> done);
  void persist_next();

  // --- helpers ---
  uint32_t primary_of(uint64_t v) const { return static_cast<uint32_t>(v % replica_count); }
  bool is_primary() const { return status == Status::normal && primary_of(view) == self; }
  // The WAL must keep every op after this one: a restart replays them from the checkpoint, and
  // peers repair from them.
  uint64_t newest_checkpoint_op() const {
    return checkpoints.empty() ? 0 : checkpoints.front().op();
  }
  void event(ReplicaEvent e);
  template <typename... Args>
  void debug(fmt::format_string<Args...> format, Args&&... args) {
    if (observer == nullptr || !observer->logging()) return;
    observer->log(self, fmt::format(format, std::forward<Args>(args)...));
  }
  void send(uint32_t to, Kind kind, const google::protobuf::MessageLite& message);
  void broadcast(Kind kind, const google::protobuf::MessageLite& message);
  uint64_t now_tick() const { return ticks; }

  const Config config;
  io::Env env;
  const uint32_t self;
  const uint32_t replica_count;
  const uint32_t quorum;
  StateMachine& state_machine;
  ReplicaObserver* const observer;
  Journal journal;
  BodyCache body_cache;  // bodies written lately: commit applies them without a disk read
  Superblock superblock;
  ClockSync clock_sync;
  const proto::Header root;

  Status status = Status::starting;
  uint64_t view = 0;
  uint64_t log_view = 0;
  uint64_t log_view_op = 0;
  uint64_t log_view_head_checksum = 0;
  uint64_t op = 0;
  uint64_t commit_min = 0;
  uint64_t commit_max = 0;
  uint64_t commit_max_checksum = 0;   // header checksum of op commit_max, when known (0: not)
  uint64_t commit_min_checksum = 0;   // header checksum of op commit_min
  uint64_t last_timestamp_ns = 0;     // the newest timestamp in the log (the primary's floor)
  uint64_t applied_timestamp_ns = 0;  // of op commit_min
  std::vector<proto::CheckpointId> checkpoints;  // retained, newest first
  bool state_loaded = false;  // the state machine holds the state after commit_min

  std::vector<LogEntry> log;
  std::vector<RingState> ring;
  std::map<uint64_t, Session> sessions;  // by client id; ordered, so snapshots are stable

  // Primary.
  std::deque<Pending> pipeline;
  std::deque<proto::Request> request_queue;
  // The hold on the next prepare after a commit (Config::batch_delay_us): released when this many
  // requests wait or at this time, whichever comes first. 0 requests: no hold.
  size_t batch_hold_requests = 0;
  uint64_t batch_hold_until_ns = 0;
  io::TimerId batch_timer = io::timer_id_none;
  std::map<uint64_t, uint64_t> requests_in_flight;  // client -> request, queued or prepared
  std::map<uint64_t, io::NodeId> client_nodes;      // client -> the node it sends from
  std::vector<uint64_t> acked_op;  // per replica: highest op it acknowledged in this view
  uint64_t heartbeat_tick = 0;

  // Backup.
  uint64_t primary_contact_tick = 0;
  uint64_t primary_op_seen = 0;
  uint64_t primary_checkpoint_seen = 0;
  uint64_t prepare_ok_sent_op = 0;
  uint64_t commit_progress_tick = 0;  // when commit_max last moved, or nothing was pending
  uint64_t commit_progress_seen = 0;

  // View change.
  std::vector<bool> start_view_change_from;
  std::map<uint32_t, proto::DoViewChange> do_view_changes;
  // The vote for this view is cast (being made durable, or durable): there is no second one.
  bool do_view_change_sent = false;
  // The vote is durable: only now may the do_view_change go out, or out again on a tick (a
  // resend while the vote was still being written broke the promise; the simulator's promise
  // check, sim/vsr_promises.h, found it in half of seeds 1..300).
  bool vote_durable = false;
  bool installing = false;  // a decided log is being written
  uint64_t view_change_tick = 0;
  uint32_t view_change_attempts = 0;
  uint64_t start_view_requested_tick = 0;
  // Bodies the new primary fetched while deciding (bounded: 2 * pipeline_max), and the headers
  // of all it fetched (bounded: wal_slots; small), both by checksum. The headers extend the log
  // down from its head, which may take many fetches: with room for the bodies only, a walk down
  // past 2 * pipeline_max damaged entries dropped what it fetched and waited forever (seed 712).
  std::map<uint64_t, proto::Prepare> view_change_prepares;
  std::map<uint64_t, proto::Header> view_change_headers;

  // Recovery (VRR 4.3).
  uint64_t recovery_nonce = 0;
  uint64_t recovery_tick_started = 0;
  std::map<uint32_t, proto::RecoveryResponse> recovery_responses;

  // Commit.
  bool committing = false;
  bool checkpointing = false;

  // Repair and scrubbing.
  uint64_t scrub_cursor = 0;
  uint32_t scrub_slots_left = 0;  // of the current scrub's budget
  bool scrub_reading = false;     // one slot at a time

  // State transfer: the newest checkpoint each peer has reported, and since when the next op
  // to commit has been missing.
  std::vector<uint64_t> peer_checkpoint_op;
  uint64_t commit_stall_tick = 0;
  uint64_t commit_stall_op = 0;
  // State transfer.
  struct Transfer {
    bool active = false;
    bool finishing = false;          // complete; being written locally
    bool optional = false;           // the state is loaded: repair may still do instead
    uint64_t commit_max_before = 0;  // while finishing: the commit_max the superblock may claim
    proto::CheckpointId target;      // op 0: not chosen yet
    std::string data;
    uint32_t peer = 0;
    uint64_t request_tick = 0;
    uint64_t progress_tick = 0;  // started, or the last chunk taken
  } transfer;

  // Superblock writes, one at a time; later requests coalesce.
  bool persisting = false;
  std::vector<absl::AnyInvocable<void()>> persist_waiting;
  std::vector<absl::AnyInvocable<void()>> persist_running;

  // Messages are parsed into these, one per type, reused: parsing into a cleared message keeps
  // its fields' allocations, and a fresh message per delivery cost most of receiving one.
  // Bounded: each holds at most one message of at most message_size_bytes_max.
  std::tuple<proto::Request, proto::Prepare, proto::PrepareOk, proto::Commit,
             proto::StartViewChange, proto::DoViewChange, proto::StartView, proto::RequestStartView,
             proto::Recovery, proto::RecoveryResponse, proto::RequestPrepare,
             proto::RequestCheckpoint, proto::CheckpointChunk, proto::Ping, proto::Pong>
      inbox;
  bool receiving = false;  // a handler is running: the inbox is in use

  uint64_t ticks = 0;
  io::TimerId tick_timer = io::timer_id_none;
  uint64_t clock_rejections_seen = 0;
  uint64_t write_retries_seen = 0;
  bool starting_done = false;
  uint64_t nack_floor_op = 0;
};

}  // namespace keel::vsr
