#pragma once
// The replicated key-value state machine: deterministic (the same commands in the same order
// give the same results and the same state on every replica, in every process), bounded (limits
// on key and value sizes, key count and keys per command), and protocol-agnostic (VSR and Raft
// both apply it). Semantics follow Redis where the commands overlap; see README.md.

#include <cstdint>
#include <string>
#include <string_view>

#include "absl/container/flat_hash_map.h"
#include "workloads/kv/inline_key.h"
#include "workloads/kv/kv.pb.h"

namespace keel::kv {

struct Limits {
  uint64_t key_size_bytes_max = 1024;
  uint64_t value_size_bytes_max = 64 * 1024;
  uint64_t keys_max = 100'000;
  uint64_t command_keys_max = 64;      // keys named by one DEL, EXISTS, MSET or MGET
  uint64_t batch_commands_max = 1024;  // commands in one batch (a connection's pipeline)
  // The bytes of all keys and values together (size_bytes()), so that a snapshot, and the
  // checkpoint area that holds it, has a bound even when many keys hold large values.
  uint64_t state_size_bytes_max = 64ull << 20;
};

class StateMachine {
 public:
  explicit StateMachine(const Limits& limits = Limits{});

  proto::Result apply(const proto::Command& command);

  // A checksum of the whole state, the same for equal states on any replica: the sum, modulo
  // 2^64, of an XXH3-64 hash of each entry. Independent of order, so each write updates it in
  // O(1); mixed with the key count so that an empty state is not the only one summing to zero.
  uint64_t checksum() const { return checksum_ ^ (entries_.size() * 0x9e3779b97f4a7c15ULL); }
  uint64_t key_count() const { return entries_.size(); }
  uint64_t size_bytes() const { return size_bytes_; }  // of all keys and values together
  const Limits& limits() const { return limits_; }
  // An upper bound on snapshot().size() under the limits: the keys and values plus each
  // entry's Protobuf framing.
  uint64_t snapshot_size_bytes_max() const;

  // The whole state, in key order, for checkpoints and state transfer.
  std::string snapshot() const;
  // Replaces the state. Returns false, leaving the state untouched, if the snapshot is damaged
  // or breaks the limits.
  bool restore(std::string_view snapshot);

  // Parses a Redis-style 64-bit decimal integer: an optional '-', no '+', no leading zeros, no
  // spaces. Public for the tests and for clients that format values.
  static bool parse_integer(std::string_view text, int64_t& value);

 private:
  proto::Result apply_one(const proto::Command& command);
  proto::Result batch(const proto::Batch& batch);
  // A hint to the CPU: the map's memory for the command's key (of single-key commands).
  void prefetch_key(const proto::Command& command) const;
  proto::Result set(const proto::KeyValue& pair);
  proto::Result get(const std::string& key) const;
  proto::Result del(const proto::Keys& keys);
  proto::Result exists(const proto::Keys& keys) const;
  proto::Result incr_by(const std::string& key, int64_t delta);
  proto::Result mset(const proto::KeyValues& pairs);
  proto::Result mget(const proto::Keys& keys) const;
  proto::Result append(const std::string& key, const std::string& value);
  proto::Result strlen(const std::string& key) const;

  proto::Result store_full() const;
  proto::Result state_too_large(uint64_t size_bytes_after) const;
  using Entries = absl::flat_hash_map<InlineKey, std::string, InlineKeyHash, InlineKeyEq>;

  // The size_bytes() after key, whose entry is found (or end()), is written with a value of
  // value_size bytes.
  uint64_t size_bytes_after_put(Entries::const_iterator found, const std::string& key,
                                uint64_t value_size) const;
  proto::Result too_many_keys() const;
  proto::Result value_too_large(uint64_t size_bytes) const;
  // Checks a command's key count and key sizes; a non-empty error result if they fail.
  bool check_keys(const proto::Keys& keys, proto::Result& error) const;
  bool check_key(const std::string& key, proto::Result& error) const;
  // Writes (or erases) one entry, keeping the checksum and size up to date. found is key's entry
  // or end(), looked up after the map last changed: a command looks its key up once (with
  // 100,000 keys, lookups were a fifth of a primary's CPU under redis-benchmark -P 32).
  void put(Entries::iterator found, const std::string& key, std::string value);
  void put(const std::string& key, std::string value) {
    put(entries_.find(key), key, std::move(value));
  }
  void erase(const std::string& key);
  static uint64_t entry_hash(std::string_view key, std::string_view value);

  Limits limits_;
  // Unordered, for speed: lookups are most of a command's cost. Nothing may depend on its
  // iteration order (its hash is seeded per process): the checksum is a sum over entries, and a
  // snapshot sorts the keys.
  Entries entries_;
  uint64_t checksum_ = 0;
  uint64_t size_bytes_ = 0;
};

proto::Result error_result(proto::ErrorCode code, std::string message);

}  // namespace keel::kv
