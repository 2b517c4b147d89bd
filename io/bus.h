#pragma once

#include <cstdint>
#include <span>

#include "io/types.h"

namespace google::protobuf {
class MessageLite;
}

namespace keel::io {

// Best-effort datagrams between nodes. A sent message may be lost, delayed, duplicated or
// reordered; it is never delivered damaged: both implementations frame every message
// (io/frame.h) and drop, and count, frames whose checksum or cluster id is wrong before the
// receiver sees them.
class MessageBus {
 public:
  // kind is the protocol's message type; body is a serialized Protobuf message.
  using Receiver =
      absl::AnyInvocable<void(NodeId from, uint16_t kind, std::span<const uint8_t> body)>;

  virtual ~MessageBus() = default;
  virtual NodeId self() const = 0;
  // The body is copied before send returns. Sending to self is allowed and goes through the
  // same path as any other message.
  virtual void send(NodeId to, uint16_t kind, std::span<const uint8_t> body) = 0;
  // Replaces the receiver. Messages that arrive while none is set are dropped.
  virtual void set_receiver(Receiver receiver) = 0;
};

// Serializes message and sends it. Returns false, sending nothing, if it does not fit a frame.
bool send_message(MessageBus& bus, NodeId to, uint16_t kind,
                  const google::protobuf::MessageLite& message);

}  // namespace keel::io
