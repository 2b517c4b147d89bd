#include "io/bus.h"

#include <google/protobuf/message_lite.h>

#include <span>
#include <vector>

#include "io/frame.h"

namespace keel::io {

bool send_message(MessageBus& bus, NodeId to, uint16_t kind,
                  const google::protobuf::MessageLite& message) {
  const size_t size_bytes = message.ByteSizeLong();
  if (size_bytes > frame_body_size_bytes_max) return false;
  // Reused: the bus copies the body before send returns, and every message of a process passes
  // here. Bounded by the largest frame.
  thread_local std::vector<uint8_t> body;
  if (body.size() < size_bytes) body.resize(size_bytes);
  const std::span<uint8_t> used(body.data(), size_bytes);
  const bool serialized = message.SerializeToArray(used.data(), static_cast<int>(used.size()));
  if (!serialized) return false;
  bus.send(to, kind, used);
  return true;
}

}  // namespace keel::io
