#include "workloads/kv/state_machine.h"

#define XXH_STATIC_LINKING_ONLY  // for a stack-allocated XXH3_state_t
#include <google/protobuf/io/coded_stream.h>
#include <xxhash.h>

#include <algorithm>
#include <array>
#include <charconv>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "io/assert.h"

namespace keel::kv {
namespace {

constexpr char not_an_integer[] = "value is not an integer or out of range";

proto::Result ok_result() {
  proto::Result result;
  result.set_ok(true);
  return result;
}

proto::Result integer_result(int64_t value) {
  proto::Result result;
  result.set_integer(value);
  return result;
}

using google::protobuf::io::CodedOutputStream;

void append_varint(std::string& bytes, uint64_t value) {
  std::array<uint8_t, 10> encoded{};  // a varint of 64 bits takes at most 10 bytes
  const uint8_t* end = CodedOutputStream::WriteVarint64ToArray(value, encoded.data());
  bytes.append(reinterpret_cast<const char*>(encoded.data()),
               static_cast<size_t>(end - encoded.data()));
}

uint64_t varint_size_bytes(uint64_t value) { return CodedOutputStream::VarintSize64(value); }

}  // namespace

proto::Result error_result(proto::ErrorCode code, std::string message) {
  proto::Result result;
  result.mutable_error()->set_code(code);
  result.mutable_error()->set_message(std::move(message));
  return result;
}

StateMachine::StateMachine(const Limits& limits) : limits_(limits) {
  KEEL_ASSERT(limits.key_size_bytes_max > 0 && limits.value_size_bytes_max > 0);
  KEEL_ASSERT(limits.keys_max > 0 && limits.command_keys_max > 0);
  KEEL_ASSERT(limits.state_size_bytes_max > 0);
}

uint64_t StateMachine::snapshot_size_bytes_max() const {
  // A snapshot is a KeyValues: per entry a tag and a length, then the key's and the value's tag,
  // length and bytes. The keys' and values' bytes sum to at most state_size_bytes_max.
  const uint64_t key_length_bytes = varint_size_bytes(limits_.key_size_bytes_max);
  const uint64_t value_length_bytes = varint_size_bytes(limits_.value_size_bytes_max);
  const uint64_t entry_body_bytes_max = 2 + key_length_bytes + value_length_bytes +
                                        limits_.key_size_bytes_max + limits_.value_size_bytes_max;
  const uint64_t entry_framing_bytes_max =
      1 + varint_size_bytes(entry_body_bytes_max) + 2 + key_length_bytes + value_length_bytes;
  uint64_t framing_bytes = 0;
  uint64_t total_bytes = 0;
  const bool overflow =
      __builtin_mul_overflow(limits_.keys_max, entry_framing_bytes_max, &framing_bytes) ||
      __builtin_add_overflow(framing_bytes, limits_.state_size_bytes_max, &total_bytes);
  KEEL_ASSERT(!overflow);
  return total_bytes;
}

proto::Result StateMachine::apply(const proto::Command& command) {
  if (command.has_batch()) return batch(command.batch());
  return apply_one(command);
}

// Each command as if sent alone: one that fails leaves the others to run, as in a Redis
// pipeline (which is not a transaction).
proto::Result StateMachine::batch(const proto::Batch& batch) {
  if (static_cast<uint64_t>(batch.commands_size()) > limits_.batch_commands_max) {
    return error_result(
        proto::TOO_MANY_KEYS,
        "a batch holds at most " + std::to_string(limits_.batch_commands_max) + " commands");
  }
  // The slots of all the batch's keys are fetched from memory at once rather than one miss after
  // another: in a large map, a lookup is mostly waiting for memory.
  for (const proto::Command& command : batch.commands()) prefetch_key(command);
  proto::Result result;
  proto::Results* results = result.mutable_results();
  for (const proto::Command& command : batch.commands()) {
    *results->add_results() = command.has_batch()
                                  ? error_result(proto::MALFORMED_COMMAND, "a batch inside a batch")
                                  : apply_one(command);
  }
  return result;
}

void StateMachine::prefetch_key(const proto::Command& command) const {
  switch (command.command_case()) {
    case proto::Command::kSet:
      entries_.prefetch(command.set().key());
      break;
    case proto::Command::kGet:
      entries_.prefetch(command.get());
      break;
    case proto::Command::kIncrBy:
      entries_.prefetch(command.incr_by().key());
      break;
    case proto::Command::kAppend:
      entries_.prefetch(command.append().key());
      break;
    default:
      break;
  }
}

proto::Result StateMachine::apply_one(const proto::Command& command) {
  KEEL_ASSERT(!command.has_batch());
  switch (command.command_case()) {
    case proto::Command::kSet:
      return set(command.set());
    case proto::Command::kGet:
      return get(command.get());
    case proto::Command::kDel:
      return del(command.del());
    case proto::Command::kExists:
      return exists(command.exists());
    case proto::Command::kIncrBy:
      return incr_by(command.incr_by().key(), command.incr_by().delta());
    case proto::Command::kMset:
      return mset(command.mset());
    case proto::Command::kMget:
      return mget(command.mget());
    case proto::Command::kAppend:
      return append(command.append().key(), command.append().value());
    case proto::Command::kStrlen:
      return strlen(command.strlen());
    case proto::Command::kDbsize: {
      proto::Result result;
      result.set_integer(static_cast<int64_t>(entries_.size()));
      return result;
    }
    case proto::Command::kBatch:
    case proto::Command::COMMAND_NOT_SET:
      break;
  }
  return error_result(proto::EMPTY_COMMAND, "empty command");
}

proto::Result StateMachine::store_full() const {
  return error_result(proto::TOO_MANY_KEYS,
                      "the store holds its limit of " + std::to_string(limits_.keys_max) + " keys");
}

proto::Result StateMachine::state_too_large(uint64_t size_bytes_after) const {
  return error_result(proto::STORE_FULL, "the write would make the keys and values " +
                                             std::to_string(size_bytes_after) +
                                             " bytes, over the limit of " +
                                             std::to_string(limits_.state_size_bytes_max));
}

uint64_t StateMachine::size_bytes_after_put(Entries::const_iterator found, const std::string& key,
                                            uint64_t value_size) const {
  KEEL_ASSERT(found == entries_.end() || found->first.view() == key);
  const uint64_t before = found == entries_.end() ? 0 : key.size() + found->second.size();
  return size_bytes_ - before + key.size() + value_size;
}

proto::Result StateMachine::too_many_keys() const {
  return error_result(
      proto::TOO_MANY_KEYS,
      "more than " + std::to_string(limits_.command_keys_max) + " keys in one command");
}

proto::Result StateMachine::value_too_large(uint64_t size_bytes) const {
  return error_result(proto::VALUE_TOO_LARGE, "value of " + std::to_string(size_bytes) +
                                                  " bytes is over the limit of " +
                                                  std::to_string(limits_.value_size_bytes_max));
}

bool StateMachine::check_key(const std::string& key, proto::Result& error) const {
  if (key.size() <= limits_.key_size_bytes_max) return true;
  error = error_result(proto::KEY_TOO_LARGE, "key of " + std::to_string(key.size()) +
                                                 " bytes is over the limit of " +
                                                 std::to_string(limits_.key_size_bytes_max));
  return false;
}

bool StateMachine::check_keys(const proto::Keys& keys, proto::Result& error) const {
  if (keys.keys_size() == 0) {
    error = error_result(proto::EMPTY_COMMAND, "no keys given");
    return false;
  }
  if (static_cast<uint64_t>(keys.keys_size()) > limits_.command_keys_max) {
    error = too_many_keys();
    return false;
  }
  for (const std::string& key : keys.keys()) {
    if (!check_key(key, error)) return false;
  }
  return true;
}

proto::Result StateMachine::set(const proto::KeyValue& pair) {
  const std::string& key = pair.key();
  const std::string& value = pair.value();
  proto::Result error;
  if (!check_key(key, error)) return error;
  const auto found = entries_.find(key);
  const bool present = found != entries_.end();
  if ((pair.condition() == proto::IF_ABSENT && present) ||
      (pair.condition() == proto::IF_PRESENT && !present)) {
    proto::Result unmet;
    unmet.mutable_value()->set_found(false);
    return unmet;
  }
  if (value.size() > limits_.value_size_bytes_max) {
    return value_too_large(value.size());
  }
  if (!present && entries_.size() >= limits_.keys_max) return store_full();
  const uint64_t size_bytes_after = size_bytes_after_put(found, key, value.size());
  if (size_bytes_after > limits_.state_size_bytes_max) return state_too_large(size_bytes_after);
  put(found, key, value);
  return ok_result();
}

proto::Result StateMachine::get(const std::string& key) const {
  proto::Result result;
  if (!check_key(key, result)) return result;
  proto::OptionalValue* value = result.mutable_value();
  const auto found = entries_.find(key);
  if (found != entries_.end()) {
    value->set_found(true);
    value->set_value(found->second);
  }
  return result;
}

proto::Result StateMachine::del(const proto::Keys& keys) {
  proto::Result error;
  if (!check_keys(keys, error)) return error;
  int64_t deleted = 0;
  for (const std::string& key : keys.keys()) {
    if (entries_.contains(key)) {
      erase(key);
      deleted++;
    }
  }
  return integer_result(deleted);
}

proto::Result StateMachine::exists(const proto::Keys& keys) const {
  proto::Result error;
  if (!check_keys(keys, error)) return error;
  int64_t count = 0;  // As in Redis, a key named twice counts twice.
  for (const std::string& key : keys.keys()) count += entries_.contains(key) ? 1 : 0;
  return integer_result(count);
}

proto::Result StateMachine::incr_by(const std::string& key, int64_t delta) {
  proto::Result error;
  if (!check_key(key, error)) return error;
  int64_t current = 0;
  const auto found = entries_.find(key);
  if (found != entries_.end() && !parse_integer(found->second, current)) {
    return error_result(proto::NOT_AN_INTEGER, not_an_integer);
  }
  int64_t next = 0;
  if (__builtin_add_overflow(current, delta, &next)) {
    return error_result(proto::OVERFLOW, "increment or decrement would overflow");
  }
  if (found == entries_.end() && entries_.size() >= limits_.keys_max) {
    return store_full();
  }
  std::string text = std::to_string(next);
  const uint64_t size_bytes_after = size_bytes_after_put(found, key, text.size());
  if (size_bytes_after > limits_.state_size_bytes_max) return state_too_large(size_bytes_after);
  put(found, key, std::move(text));
  return integer_result(next);
}

proto::Result StateMachine::mset(const proto::KeyValues& pairs) {
  if (pairs.pairs_size() == 0) return error_result(proto::EMPTY_COMMAND, "no pairs given");
  if (static_cast<uint64_t>(pairs.pairs_size()) > limits_.command_keys_max) {
    return too_many_keys();
  }
  // All or nothing: every limit is checked before anything is written. The later pair for a
  // key wins, so only its value is counted and written (an earlier, larger one could pass the
  // state size limit on the way).
  std::map<std::string_view, std::string_view> values;
  for (const proto::KeyValue& pair : pairs.pairs()) {
    proto::Result error;
    if (!check_key(pair.key(), error)) return error;
    if (pair.value().size() > limits_.value_size_bytes_max) {
      return value_too_large(pair.value().size());
    }
    values[pair.key()] = pair.value();
  }
  uint64_t new_keys = 0;
  uint64_t size_bytes_after = size_bytes_;
  for (const auto& [key, value] : values) {
    const auto found = entries_.find(key);
    if (found == entries_.end()) {
      new_keys++;
    } else {
      size_bytes_after -= key.size() + found->second.size();
    }
    size_bytes_after += key.size() + value.size();
  }
  if (entries_.size() + new_keys > limits_.keys_max) {
    return store_full();
  }
  if (size_bytes_after > limits_.state_size_bytes_max) return state_too_large(size_bytes_after);
  // Shrinking values first: in key order a growing value could pass the size limit on the way
  // to a final size within it (and put() asserts the limit after every write).
  for (const bool growing : {false, true}) {
    for (const auto& [key, value] : values) {
      const auto found = entries_.find(key);
      const bool grows = found == entries_.end() || value.size() > found->second.size();
      if (grows == growing) put(found, std::string(key), std::string(value));
    }
  }
  return ok_result();
}

proto::Result StateMachine::mget(const proto::Keys& keys) const {
  proto::Result result;
  if (!check_keys(keys, result)) return result;
  proto::OptionalValues* values = result.mutable_values();
  for (const std::string& key : keys.keys()) {
    proto::OptionalValue* value = values->add_values();
    const auto found = entries_.find(key);
    if (found != entries_.end()) {
      value->set_found(true);
      value->set_value(found->second);
    }
  }
  return result;
}

proto::Result StateMachine::append(const std::string& key, const std::string& value) {
  proto::Result error;
  if (!check_key(key, error)) return error;
  const auto found = entries_.find(key);
  const uint64_t current_size = found == entries_.end() ? 0 : found->second.size();
  if (current_size + value.size() > limits_.value_size_bytes_max) {
    return error_result(proto::VALUE_TOO_LARGE, "appending would make the value " +
                                                    std::to_string(current_size + value.size()) +
                                                    " bytes, over the limit of " +
                                                    std::to_string(limits_.value_size_bytes_max));
  }
  if (found == entries_.end() && entries_.size() >= limits_.keys_max) {
    return store_full();
  }
  const uint64_t size_bytes_after = size_bytes_after_put(found, key, current_size + value.size());
  if (size_bytes_after > limits_.state_size_bytes_max) return state_too_large(size_bytes_after);
  put(found, key, found == entries_.end() ? value : found->second + value);
  return integer_result(static_cast<int64_t>(current_size + value.size()));
}

proto::Result StateMachine::strlen(const std::string& key) const {
  proto::Result error;
  if (!check_key(key, error)) return error;
  const auto found = entries_.find(key);
  return integer_result(found == entries_.end() ? 0 : static_cast<int64_t>(found->second.size()));
}

uint64_t StateMachine::entry_hash(std::string_view key, std::string_view value) {
  // The key's length is hashed too, so ("ab", "c") and ("a", "bc") differ.
  // On the stack: every write hashes twice, and a heap-allocated state cost more than the hash.
  XXH3_state_t state;
  const uint64_t key_size = key.size();
  XXH3_64bits_reset(&state);
  XXH3_64bits_update(&state, &key_size, sizeof(key_size));
  XXH3_64bits_update(&state, key.data(), key.size());
  XXH3_64bits_update(&state, value.data(), value.size());
  return XXH3_64bits_digest(&state);
}

void StateMachine::put(Entries::iterator found, const std::string& key, std::string value) {
  KEEL_ASSERT(found == entries_.end() || found->first.view() == key);
  if (found != entries_.end()) {
    checksum_ -= entry_hash(key, found->second);
    size_bytes_ -= key.size() + found->second.size();
    found->second = std::move(value);
    checksum_ += entry_hash(key, found->second);
    size_bytes_ += key.size() + found->second.size();
    KEEL_ASSERT(size_bytes_ <= limits_.state_size_bytes_max);
    return;
  }
  KEEL_ASSERT(entries_.size() < limits_.keys_max);
  checksum_ += entry_hash(key, value);
  size_bytes_ += key.size() + value.size();
  KEEL_ASSERT(size_bytes_ <= limits_.state_size_bytes_max);
  entries_.emplace(InlineKey(key), std::move(value));
}

void StateMachine::erase(const std::string& key) {
  const auto found = entries_.find(key);
  KEEL_ASSERT(found != entries_.end());
  checksum_ -= entry_hash(key, found->second);
  size_bytes_ -= key.size() + found->second.size();
  entries_.erase(found);
}

// The bytes of a KeyValues message, written directly: building one message per entry only to
// serialize it cost a checkpoint most of its time. Exactly Protobuf's encoding (fields in
// order, empty bytes fields left out), which state_machine_test checks.
std::string StateMachine::snapshot() const {
  constexpr uint8_t pairs_tag = (1 << 3) | 2;  // KeyValues.pairs, length-delimited
  constexpr uint8_t key_tag = (1 << 3) | 2;    // KeyValue.key
  constexpr uint8_t value_tag = (2 << 3) | 2;  // KeyValue.value
  const auto field_size_bytes = [](uint64_t size) {
    return size == 0 ? 0 : 1 + varint_size_bytes(size) + size;
  };
  std::vector<const Entries::value_type*> sorted;
  sorted.reserve(entries_.size());
  for (const auto& entry : entries_) sorted.push_back(&entry);
  std::sort(sorted.begin(), sorted.end(),
            [](const auto* a, const auto* b) { return a->first.view() < b->first.view(); });
  std::string bytes;
  bytes.reserve(size_bytes_ + entries_.size() * 16);
  for (const auto* entry : sorted) {
    const std::string_view key = entry->first.view();
    const std::string_view value = entry->second;
    bytes.push_back(static_cast<char>(pairs_tag));
    append_varint(bytes, field_size_bytes(key.size()) + field_size_bytes(value.size()));
    for (const auto& [tag, field] : {std::pair{key_tag, key}, std::pair{value_tag, value}}) {
      if (field.empty()) continue;
      bytes.push_back(static_cast<char>(tag));
      append_varint(bytes, field.size());
      bytes.append(field);
    }
  }
  return bytes;
}

bool StateMachine::restore(std::string_view snapshot) {
  proto::KeyValues pairs;
  if (!pairs.ParseFromArray(snapshot.data(), static_cast<int>(snapshot.size()))) return false;
  if (static_cast<uint64_t>(pairs.pairs_size()) > limits_.keys_max) return false;
  StateMachine restored(limits_);
  for (const proto::KeyValue& pair : pairs.pairs()) {
    if (pair.key().size() > limits_.key_size_bytes_max ||
        pair.value().size() > limits_.value_size_bytes_max ||
        restored.entries_.contains(pair.key()) ||
        restored.size_bytes_ + pair.key().size() + pair.value().size() >
            limits_.state_size_bytes_max) {
      return false;
    }
    restored.put(pair.key(), pair.value());
  }
  *this = std::move(restored);
  return true;
}

bool StateMachine::parse_integer(std::string_view text, int64_t& value) {
  if (text.empty() || text.size() > 20) return false;
  const bool negative = text.front() == '-';
  const std::string_view digits = negative ? text.substr(1) : text;
  if (digits.empty() || (digits.size() > 1 && digits.front() == '0')) return false;
  if (negative && digits == "0") return false;  // "-0" is not how Redis writes zero.
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  return error == std::errc() && end == text.data() + text.size();
}

}  // namespace keel::kv
