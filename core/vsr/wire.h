#pragma once
// Message kinds on the bus (io/bus.h); bodies are the messages of messages.proto.

#include <cstdint>
#include <span>

namespace keel::vsr {

enum class Kind : uint16_t {
  request = 1,     // client -> replica: Request
  reply = 2,       // replica -> client: Reply
  prepare = 3,     // primary -> backup: Prepare
  prepare_ok = 4,  // backup -> primary: PrepareOk
  commit = 5,      // primary -> backup: Commit (heartbeat)
  start_view_change = 6,
  do_view_change = 7,
  start_view = 8,
  request_start_view = 9,
  recovery = 10,
  recovery_response = 11,
  // 12 and 13 are reserved.
  request_prepare = 14,
  prepare_repair = 15,  // answer to request_prepare: Prepare
  request_checkpoint = 16,
  checkpoint_chunk = 17,
  ping = 18,
  pong = 19,
};

template <typename Message>
bool parse_message(std::span<const uint8_t> body, Message& message) {
  return message.ParseFromArray(body.data(), static_cast<int>(body.size()));
}

}  // namespace keel::vsr
