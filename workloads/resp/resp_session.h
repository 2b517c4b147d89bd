#pragma once
// One Redis client connection (RESP2) as a state machine: bytes in, replies out, KV commands
// through a submit hook. Pure and deterministic, so the simulator runs the same code the
// runtime does (docs/operations.md, "Redis clients").
//
// Replies leave in request order. Commands a connection pipelines while an earlier submission
// is in flight are gathered into one Batch (workloads/kv/kv.proto): one consensus round for
// many commands, each with its own result. Commands answered locally (PING, ECHO, SELECT 0,
// COMMAND, CONFIG GET, CLIENT, HELLO, INFO, QUIT) wait behind earlier ones all the same.

#include <google/protobuf/arena.h>

#include <cstdint>
#include <deque>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "absl/functional/any_invocable.h"
#include "workloads/kv/kv.pb.h"
#include "workloads/resp/resp_parser.h"

namespace keel::resp {

struct RespSessionOptions {
  RespLimits limits;
  uint32_t requests_waiting_max = 4096;  // replies owed before input pauses
  uint32_t batch_commands_max = 64;
  uint64_t batch_size_bytes_max = 64 * 1024;  // serialized commands in one submission
  // A batch's reply must fit one message too: each GET counts this much, each MGET key as much.
  uint64_t reply_value_size_bytes_max = 64 * 1024;
  uint64_t batch_reply_size_bytes_max = 128 * 1024;
};

class RespSession {
 public:
  // Submits a serialized kv::proto::Command; done runs once, later, with known = false when the
  // outcome is unknown (no reply: it may or may not have taken effect).
  using Done = absl::AnyInvocable<void(bool known, const std::string& result)>;
  using Submit = absl::AnyInvocable<void(std::string command, Done done)>;
  // INFO's text, in Redis's section format.
  using Info = absl::AnyInvocable<std::string()>;

  RespSession(const RespSessionOptions& options, Submit submit, Info info);

  // Bytes from the client. Parses and answers or submits every complete request.
  void receive(std::string_view bytes);
  // Replies ready to send, in order; empties the buffer.
  std::string take_output();
  // False while too many replies are owed (the caller stops reading), or once closing.
  bool wants_input() const;
  // After QUIT or a protocol error: send what take_output() gives, then close.
  bool closing() const { return closing_; }
  // Nothing submitted and waiting.
  bool idle() const { return !in_flight_; }

 private:
  struct Slot {
    bool ready = false;
    std::string reply;
  };
  // A command waiting in pending_, serialized and framed as a field of a Batch.
  struct Queued {
    uint64_t slot = 0;
    uint64_t framed_size_bytes = 0;   // the field's tag and length, then the command
    uint64_t command_size_bytes = 0;  // the command alone, at the end of its framed bytes
    uint64_t reply_size_bytes = 0;    // worst case
  };

  void parse_requests();
  void dispatch(std::span<const std::string> args);
  void enqueue(const kv::proto::Command& command);
  bool answer_locally(const std::string& verb, std::span<const std::string> args,
                      std::string& reply);
  uint64_t add_slot();
  void fill(uint64_t slot, std::string reply);
  void submit_next();
  void release_pending(uint64_t size_bytes);
  void completed(const std::vector<uint64_t>& slots, bool known, const std::string& result);
  void flush();

  const RespSessionOptions options_;
  Submit submit_;
  Info info_;
  RespParser parser_;
  std::deque<Slot> slots_;
  uint64_t slot_base_ = 0;  // the id of slots_.front()
  std::deque<Queued> queued_;
  // The queued commands' bytes, in order, from pending_start_ on: a prefix of them is a Batch's
  // serialized form, so a submission copies it once and builds no messages.
  std::string pending_;
  uint64_t pending_start_ = 0;
  // Commands are parsed into this arena and serialized at once; it is reset after each read,
  // keeping its first block.
  std::unique_ptr<char[]> command_block_;
  google::protobuf::Arena command_arena_;
  bool in_flight_ = false;
  bool closing_ = false;
  std::string client_name_;
  std::string output_;
};

// The RESP reply for a KV result: +OK, a bulk or nil, an integer, an array, or an error with
// Redis's wording.
void write_result(std::string& out, const kv::proto::Result& result);

}  // namespace keel::resp
