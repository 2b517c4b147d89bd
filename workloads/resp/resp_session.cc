#include "workloads/resp/resp_session.h"

#include <fmt/format.h>
#include <google/protobuf/io/coded_stream.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <utility>

#include "io/assert.h"
#include "workloads/kv/text_command.h"
#include "workloads/resp/resp_writer.h"

namespace keel::resp {

namespace {

std::string lowercase(std::string text) {
  std::transform(text.begin(), text.end(), text.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return text;
}

std::string error_reply(std::string_view message) {
  std::string out;
  error(out, message);
  return out;
}

std::string arity_reply(const std::string& verb) {
  return error_reply(fmt::format("ERR wrong number of arguments for '{}' command", verb));
}

// Redis 7's wording, which clients and people recognise.
std::string unknown_command_reply(std::span<const std::string> args) {
  std::string beginning;
  for (size_t i = 1; i < args.size() && i <= 3; i++) {
    beginning += fmt::format("'{}' ", args[i].substr(0, 64));
  }
  return error_reply(fmt::format("ERR unknown command '{}', with args beginning with: {}",
                                 args[0].substr(0, 64), beginning));
}

// What a batch's reply may take, at worst: reads return values.
uint64_t reply_size_bytes_max(const kv::proto::Command& command, uint64_t value_size_bytes_max) {
  constexpr uint64_t small_reply_bytes = 64;
  if (command.has_get()) return value_size_bytes_max + small_reply_bytes;
  if (command.has_mget()) {
    return static_cast<uint64_t>(command.mget().keys_size()) *
           (value_size_bytes_max + small_reply_bytes);
  }
  return small_reply_bytes;
}

// HELLO's answer in RESP2: a flat array of field, value pairs, as Redis sends it.
std::string hello_reply() {
  std::string out;
  array_header(out, 14);
  const std::pair<const char*, const char*> fields[] = {
      {"server", "keel"}, {"version", "7.0.0"}, {"mode", "standalone"}, {"role", "master"}};
  for (const auto& [name, value] : fields) {
    bulk(out, name);
    bulk(out, value);
  }
  bulk(out, "proto");
  integer(out, 2);
  bulk(out, "id");
  integer(out, 1);
  bulk(out, "modules");
  array_header(out, 0);
  return out;
}

std::string config_reply(std::span<const std::string> args) {
  if (args.size() < 2) return arity_reply("config");
  const std::string sub = lowercase(args[1]);
  if (sub == "set" || sub == "resetstat")
    return error_reply("ERR CONFIG " + sub + " is not supported by keel");
  if (sub != "get")
    return error_reply("ERR unknown subcommand '" + args[1] + "'. Try CONFIG HELP.");
  if (args.size() < 3) return arity_reply("config|get");
  // What redis-benchmark asks: keel always persists every write before it answers.
  const std::pair<const char*, const char*> known[] = {
      {"save", ""}, {"appendonly", "yes"}, {"appendfsync", "always"}};
  std::string pairs;
  int64_t found = 0;
  for (size_t i = 2; i < args.size(); i++) {
    for (const auto& [name, value] : known) {
      if (lowercase(args[i]) != name) continue;
      bulk(pairs, name);
      bulk(pairs, value);
      found += 2;
    }
  }
  std::string out;
  array_header(out, found);
  return out + pairs;
}

// The arena's reused first block: room for a read's worth of ordinary commands (a SET of short
// strings takes about 150 bytes); more spills into blocks the arena frees at its reset.
constexpr size_t command_block_size_bytes = 4096;

google::protobuf::ArenaOptions command_arena_options(char* block) {
  google::protobuf::ArenaOptions options;
  options.initial_block = block;
  options.initial_block_size = command_block_size_bytes;
  return options;
}

// A length-delimited field's tag (wire type 2) and length, as Protobuf writes them.
void append_field_header(std::string& out, int field_number, uint64_t size_bytes) {
  using google::protobuf::io::CodedOutputStream;
  std::array<uint8_t, 20> header{};  // two varints of at most 10 bytes
  uint8_t* end = CodedOutputStream::WriteVarint64ToArray(
      (static_cast<uint64_t>(field_number) << 3) | 2, header.data());
  end = CodedOutputStream::WriteVarint64ToArray(size_bytes, end);
  out.append(reinterpret_cast<const char*>(header.data()),
             static_cast<size_t>(end - header.data()));
}

}  // namespace

void write_result(std::string& out, const kv::proto::Result& result) {
  using kv::proto::Result;
  switch (result.result_case()) {
    case Result::kOk:
      simple(out, "OK");
      return;
    case Result::kValue:
      result.value().found() ? bulk(out, result.value().value()) : null_bulk(out);
      return;
    case Result::kInteger:
      integer(out, result.integer());
      return;
    case Result::kValues:
      array_header(out, result.values().values_size());
      for (const kv::proto::OptionalValue& value : result.values().values()) {
        value.found() ? bulk(out, value.value()) : null_bulk(out);
      }
      return;
    case Result::kError:
      if (result.error().code() == kv::proto::NOT_AN_INTEGER) {
        error(out, "ERR value is not an integer or out of range");
      } else if (result.error().code() == kv::proto::OVERFLOW) {
        error(out, "ERR increment or decrement would overflow");
      } else {
        error(out, "ERR " + result.error().message());
      }
      return;
    case Result::kResults:
    case Result::RESULT_NOT_SET:
      break;
  }
  error(out, "ERR the cluster gave an empty result");
}

RespSession::RespSession(const RespSessionOptions& options, Submit submit, Info info)
    : options_(options),
      submit_(std::move(submit)),
      info_(std::move(info)),
      parser_(options.limits),
      command_block_(new char[command_block_size_bytes]),
      command_arena_(command_arena_options(command_block_.get())) {
  KEEL_ASSERT(submit_ && info_);
  KEEL_ASSERT(options_.batch_commands_max >= 1 && options_.requests_waiting_max >= 1);
}

void RespSession::receive(std::string_view bytes) {
  // The parser holds a bounded number of bytes: feed it in pieces it has room for.
  while (!bytes.empty() && !closing_) {
    const size_t piece_size_bytes =
        static_cast<size_t>(std::min<uint64_t>(bytes.size(), parser_.feed_size_bytes_max()));
    KEEL_ASSERT(piece_size_bytes > 0);  // the limits leave room for any unfinished request
    parser_.feed(bytes.substr(0, piece_size_bytes));
    bytes.remove_prefix(piece_size_bytes);
    parse_requests();
  }
  // The commands parsed are serialized in pending_ by now. Once per read: a reset costs more
  // than a command.
  command_arena_.Reset();
  submit_next();
  flush();
}

void RespSession::parse_requests() {
  while (!closing_) {
    const RespParser::Status status = parser_.next();
    if (status == RespParser::Status::need_more) return;
    if (status == RespParser::Status::error) {
      // The stream cannot be framed past a malformed request: answer, then close.
      fill(add_slot(), error_reply("ERR Protocol error: " + parser_.error()));
      closing_ = true;
      return;
    }
    dispatch(parser_.args());
  }
}

void RespSession::dispatch(std::span<const std::string> args) {
  KEEL_ASSERT(!args.empty());
  const std::string verb = lowercase(args[0]);
  std::string reply;
  if (answer_locally(verb, args, reply)) {
    fill(add_slot(), std::move(reply));
    return;
  }
  auto* command = google::protobuf::Arena::CreateMessage<kv::proto::Command>(&command_arena_);
  std::string error;
  if (kv::parse_text_command(verb, args, *command, error)) {
    enqueue(*command);
  } else {
    const bool unknown = error.rfind("unknown command", 0) == 0;
    fill(add_slot(), unknown ? unknown_command_reply(args) : error_reply("ERR " + error));
  }
}

void RespSession::enqueue(const kv::proto::Command& command) {
  KEEL_ASSERT(!command.has_batch());
  const uint64_t framed_start = pending_.size();
  const size_t command_size_bytes = command.ByteSizeLong();
  append_field_header(pending_, kv::proto::Batch::kCommandsFieldNumber, command_size_bytes);
  const size_t header_end = pending_.size();
  pending_.resize(header_end + command_size_bytes);
  uint8_t* end = command.SerializeWithCachedSizesToArray(
      reinterpret_cast<uint8_t*>(pending_.data() + header_end));
  KEEL_ASSERT(end == reinterpret_cast<uint8_t*>(pending_.data() + pending_.size()));
  queued_.push_back(Queued{
      .slot = add_slot(),
      .framed_size_bytes = pending_.size() - framed_start,
      .command_size_bytes = command_size_bytes,
      .reply_size_bytes = reply_size_bytes_max(command, options_.reply_value_size_bytes_max)});
}

bool RespSession::answer_locally(const std::string& verb, std::span<const std::string> args,
                                 std::string& reply) {
  const size_t arguments = args.size() - 1;
  if (verb == "ping") {
    if (arguments > 1) {
      reply = arity_reply(verb);
    } else if (arguments == 1) {
      bulk(reply, args[1]);
    } else {
      simple(reply, "PONG");
    }
  } else if (verb == "echo") {
    arguments == 1 ? bulk(reply, args[1]) : void(reply = arity_reply(verb));
  } else if (verb == "select") {
    if (arguments != 1) {
      reply = arity_reply(verb);
    } else {
      args[1] == "0" ? simple(reply, "OK")
                     : void(reply = error_reply("ERR DB index is out of range"));
    }
  } else if (verb == "quit") {
    simple(reply, "OK");
    closing_ = true;
  } else if (verb == "command") {
    array_header(reply, 0);  // no command table: clients then send commands as typed
  } else if (verb == "config") {
    reply = config_reply(args);
  } else if (verb == "client") {
    const std::string sub = arguments >= 1 ? lowercase(args[1]) : "";
    if (sub == "setname" && arguments == 2) {
      client_name_ = args[2];
      simple(reply, "OK");
    } else if (sub == "getname") {
      client_name_.empty() ? null_bulk(reply) : bulk(reply, client_name_);
    } else if (sub == "setinfo" || sub == "no-evict" || sub == "no-touch") {
      simple(reply, "OK");
    } else if (sub == "id") {
      integer(reply, 1);
    } else {
      reply = error_reply("ERR unknown subcommand or wrong number of arguments for 'client'");
    }
  } else if (verb == "hello") {
    if (arguments == 0 || args[1] == "2") {
      reply = hello_reply();
    } else if (args[1] == "3") {
      reply = error_reply("NOPROTO this server does not support the RESP3 protocol");
    } else {
      reply = error_reply("ERR Protocol version is not an integer or out of range");
    }
  } else if (verb == "info") {
    bulk(reply, info_());
  } else {
    return false;
  }
  return true;
}

uint64_t RespSession::add_slot() {
  slots_.push_back(Slot{});
  return slot_base_ + slots_.size() - 1;
}

void RespSession::fill(uint64_t slot, std::string reply) {
  KEEL_ASSERT(slot >= slot_base_ && slot < slot_base_ + slots_.size());
  Slot& target = slots_[slot - slot_base_];
  KEEL_ASSERT(!target.ready);
  target.ready = true;
  target.reply = std::move(reply);
}

// One submission at a time (a VSR session has one request in flight): everything queued behind
// it goes next, as one batch, within the batch limits.
void RespSession::submit_next() {
  if (in_flight_ || queued_.empty()) return;
  std::vector<uint64_t> slots;
  uint64_t size_bytes = 0;  // of the Batch: its commands, each framed
  uint64_t reply_size_bytes = 0;
  uint64_t last_command_size_bytes = 0;
  while (!queued_.empty() && slots.size() < options_.batch_commands_max) {
    const Queued& next = queued_.front();
    const bool fits =
        size_bytes + next.framed_size_bytes <= options_.batch_size_bytes_max &&
        reply_size_bytes + next.reply_size_bytes <= options_.batch_reply_size_bytes_max;
    if (!slots.empty() && !fits) break;
    size_bytes += next.framed_size_bytes;
    reply_size_bytes += next.reply_size_bytes;
    last_command_size_bytes = next.command_size_bytes;
    slots.push_back(next.slot);
    queued_.pop_front();
  }
  KEEL_ASSERT(!slots.empty());
  KEEL_ASSERT(pending_start_ + size_bytes <= pending_.size());
  const std::string_view framed(pending_.data() + pending_start_, size_bytes);
  std::string command;
  if (slots.size() == 1) {
    // A lone command goes as itself: its result needs no unpacking.
    command = framed.substr(framed.size() - last_command_size_bytes);
  } else {
    // A Command whose batch field holds the framed commands: what Protobuf would serialize.
    append_field_header(command, kv::proto::Command::kBatchFieldNumber, size_bytes);
    command.append(framed);
  }
  release_pending(size_bytes);
  in_flight_ = true;
  submit_(std::move(command),
          [this, slots = std::move(slots)](bool known, const std::string& result) {
            completed(slots, known, result);
          });
}

void RespSession::release_pending(uint64_t size_bytes) {
  pending_start_ += size_bytes;
  KEEL_ASSERT(pending_start_ <= pending_.size());
  if (queued_.empty()) {
    KEEL_ASSERT(pending_start_ == pending_.size());
    pending_.clear();
    pending_start_ = 0;
  } else if (pending_start_ > pending_.size() / 2) {
    // Bytes move only when more than half of those held are done with: linear in all.
    pending_.erase(0, pending_start_);
    pending_start_ = 0;
  }
}

void RespSession::completed(const std::vector<uint64_t>& slots, bool known,
                            const std::string& result_bytes) {
  KEEL_ASSERT(in_flight_);
  in_flight_ = false;
  kv::proto::Result result;
  const bool parsed = known && result.ParseFromString(result_bytes);
  const bool batched = slots.size() > 1;
  const bool shaped =
      parsed && (!batched || (result.has_results() &&
                              result.results().results_size() == static_cast<int>(slots.size())));
  for (size_t i = 0; i < slots.size(); i++) {
    std::string reply;
    if (!known) {
      error(reply, "ERR no reply from the cluster: the command may or may not have taken effect");
    } else if (!shaped) {
      error(reply, batched && parsed && result.has_error()
                       ? "ERR " + result.error().message()
                       : "ERR the cluster's reply does not parse");
    } else {
      write_result(reply, batched ? result.results().results(static_cast<int>(i)) : result);
    }
    fill(slots[i], std::move(reply));
  }
  submit_next();
  flush();
}

void RespSession::flush() {
  while (!slots_.empty() && slots_.front().ready) {
    output_ += slots_.front().reply;
    slots_.pop_front();
    slot_base_++;
  }
}

std::string RespSession::take_output() {
  std::string out;
  out.swap(output_);
  return out;
}

bool RespSession::wants_input() const {
  return !closing_ && slots_.size() < options_.requests_waiting_max;
}

}  // namespace keel::resp
