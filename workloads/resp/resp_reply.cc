#include "workloads/resp/resp_reply.h"

#include <charconv>

#include "io/assert.h"

namespace keel::resp {

namespace {

constexpr int64_t array_elements_max = 1 << 20;

// One line ending in \r\n at bytes[at..]; npos if incomplete.
size_t line_end(std::string_view bytes, size_t at) {
  const size_t end = bytes.find("\r\n", at);
  return end;
}

bool parse_int(std::string_view text, int64_t& value) {
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  return error == std::errc() && end == text.data() + text.size() && !text.empty();
}

// A scalar at bytes[at..]: sets at past it.
ReplyStatus parse_scalar(std::string_view bytes, size_t& at, RespReply& reply) {
  if (at >= bytes.size()) return ReplyStatus::need_more;
  const size_t end = line_end(bytes, at);
  if (end == std::string_view::npos) return ReplyStatus::need_more;
  const char type = bytes[at];
  const std::string_view line = bytes.substr(at + 1, end - at - 1);
  size_t next = end + 2;
  switch (type) {
    case '+':
    case '-':
      reply.type = type == '+' ? RespReply::Type::simple : RespReply::Type::error;
      reply.text = std::string(line);
      break;
    case ':':
      reply.type = RespReply::Type::integer;
      if (!parse_int(line, reply.integer)) return ReplyStatus::malformed;
      break;
    case '$': {
      int64_t size = 0;
      if (!parse_int(line, size) || size < -1) return ReplyStatus::malformed;
      if (size == -1) {
        reply.type = RespReply::Type::null;
        break;
      }
      const uint64_t size_bytes = static_cast<uint64_t>(size);
      if (bytes.size() - next < size_bytes + 2) return ReplyStatus::need_more;
      if (bytes.substr(next + size_bytes, 2) != "\r\n") return ReplyStatus::malformed;
      reply.type = RespReply::Type::bulk;
      reply.text = std::string(bytes.substr(next, size_bytes));
      next += size_bytes + 2;
      break;
    }
    default:
      return ReplyStatus::malformed;
  }
  at = next;
  return ReplyStatus::complete;
}

bool error_result(const RespReply& reply, bool& known, kv::proto::Result& result) {
  // The front door's word for an outcome it never saw (resp_session.cc).
  if (reply.text.rfind("ERR no reply from the cluster", 0) == 0) {
    known = false;
    return true;
  }
  kv::proto::ErrorCode code = kv::proto::ERROR_CODE_UNSPECIFIED;
  if (reply.text == "ERR value is not an integer or out of range") code = kv::proto::NOT_AN_INTEGER;
  if (reply.text == "ERR increment or decrement would overflow") code = kv::proto::OVERFLOW;
  result.mutable_error()->set_code(code);
  result.mutable_error()->set_message(reply.text);
  return true;
}

void optional_value(const RespReply& reply, kv::proto::OptionalValue& value) {
  value.set_found(reply.type == RespReply::Type::bulk);
  if (value.found()) value.set_value(reply.text);
}

}  // namespace

ReplyStatus parse_reply(std::string_view bytes, size_t& consumed_bytes, RespReply& reply) {
  reply = RespReply{};
  if (bytes.empty()) return ReplyStatus::need_more;
  size_t at = 0;
  if (bytes[0] != '*') {
    const ReplyStatus status = parse_scalar(bytes, at, reply);
    if (status == ReplyStatus::complete) consumed_bytes = at;
    return status;
  }
  const size_t end = line_end(bytes, 0);
  if (end == std::string_view::npos) return ReplyStatus::need_more;
  int64_t count = 0;
  if (!parse_int(bytes.substr(1, end - 1), count) || count < -1 || count > array_elements_max) {
    return ReplyStatus::malformed;
  }
  reply.type = count == -1 ? RespReply::Type::null : RespReply::Type::array;
  at = end + 2;
  for (int64_t i = 0; i < count; i++) {
    RespReply element;
    const ReplyStatus status = parse_scalar(bytes, at, element);
    if (status != ReplyStatus::complete) return status;
    reply.elements.push_back(std::move(element));
  }
  consumed_bytes = at;
  return ReplyStatus::complete;
}

bool reply_to_result(const kv::proto::Command& command, const RespReply& reply, bool& known,
                     kv::proto::Result& result) {
  using Type = RespReply::Type;
  known = true;
  result.Clear();
  if (reply.type == Type::error) return error_result(reply, known, result);
  switch (command.command_case()) {
    case kv::proto::Command::kSet:
    case kv::proto::Command::kMset:
      if (reply.type == Type::simple && reply.text == "OK") {
        result.set_ok(true);
        return true;
      }
      if (reply.type != Type::null || !command.has_set()) return false;
      result.mutable_value()->set_found(false);  // SET NX or XX whose condition failed
      return true;
    case kv::proto::Command::kGet:
      if (reply.type != Type::bulk && reply.type != Type::null) return false;
      optional_value(reply, *result.mutable_value());
      return true;
    case kv::proto::Command::kMget:
      if (reply.type != Type::array) return false;
      for (const RespReply& element : reply.elements) {
        if (element.type != Type::bulk && element.type != Type::null) return false;
        optional_value(element, *result.mutable_values()->add_values());
      }
      return true;
    case kv::proto::Command::kDel:
    case kv::proto::Command::kExists:
    case kv::proto::Command::kIncrBy:
    case kv::proto::Command::kAppend:
    case kv::proto::Command::kStrlen:
    case kv::proto::Command::kDbsize:
      if (reply.type != Type::integer) return false;
      result.set_integer(reply.integer);
      return true;
    case kv::proto::Command::kBatch:
    case kv::proto::Command::COMMAND_NOT_SET:
      break;
  }
  return false;
}

}  // namespace keel::resp
