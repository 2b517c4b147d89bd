#include "io/bus.h"

#include <google/protobuf/message_lite.h>

#include <vector>

#include "io/frame.h"

namespace keel::io {

bool send_message(MessageBus& bus, NodeId to, uint16_t kind,
                  const google::protobuf::MessageLite& message) {
  const size_t size_bytes = message.ByteSizeLong();
  if (size_bytes > frame_body_size_bytes_max) return false;
  std::vector<uint8_t> body(size_bytes);
  const bool serialized = message.SerializeToArray(body.data(), static_cast<int>(body.size()));
  if (!serialized) return false;
  bus.send(to, kind, body);
  return true;
}

}  // namespace keel::io
