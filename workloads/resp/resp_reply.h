#pragma once
// RESP2 replies as a client reads them, and their meaning as KV results: for the simulator's RESP
// workload, which checks the front door's answers with the same linearizability checker as the
// native client's, and for tests.

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "workloads/kv/kv.pb.h"

namespace keel::resp {

struct RespReply {
  enum class Type : uint8_t { simple, error, integer, bulk, null, array };
  Type type = Type::null;
  std::string text;  // simple, error (without the leading '-'), bulk
  int64_t integer = 0;
  std::vector<RespReply> elements;  // array: scalars only (keel sends no nested arrays)
};

enum class ReplyStatus : uint8_t { complete, need_more, malformed };

// Reads one reply from the front of bytes; consumed_bytes says how much it took.
ReplyStatus parse_reply(std::string_view bytes, size_t& consumed_bytes, RespReply& reply);

// The KV result a reply to command stands for. known is false when the front door said the
// outcome is unknown (no reply from the cluster). False if the reply cannot answer command.
bool reply_to_result(const kv::proto::Command& command, const RespReply& reply, bool& known,
                     kv::proto::Result& result);

}  // namespace keel::resp
