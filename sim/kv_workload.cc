#include "sim/kv_workload.h"

#include <fmt/format.h>
#include <xxhash.h>

#include <algorithm>
#include <memory>
#include <utility>

#include "io/assert.h"

namespace keel::sim {
namespace {

// How long the fiber waits for an outcome before it looks again. KvSubmit promises one, so this
// only keeps each timer's delay finite; it never gives up.
constexpr uint64_t outcome_wait_ns = 60 * io::ns_per_s;
constexpr uint32_t keys_max = 1024;
constexpr uint64_t value_size_bytes_limit = 4096;

using kv::proto::Command;
using kv::proto::Result;

// The keys a command names, in order, one KeyOperation each.
uint32_t key_count(const Command& command) {
  switch (command.command_case()) {
    case Command::kDel:
      return static_cast<uint32_t>(command.del().keys_size());
    case Command::kExists:
      return static_cast<uint32_t>(command.exists().keys_size());
    case Command::kMset:
      return static_cast<uint32_t>(command.mset().pairs_size());
    case Command::kMget:
      return static_cast<uint32_t>(command.mget().keys_size());
    default:
      return 1;
  }
}

KeyOperation key_operation(KeyOperation::Kind kind, std::string key, std::string argument = {}) {
  KeyOperation operation;
  operation.kind = kind;
  operation.key = std::move(key);
  operation.argument = std::move(argument);
  return operation;
}

}  // namespace

struct KvWorkload::Outcome {
  io::FiberSignal* signal = nullptr;
  bool done = false;
  bool known = false;
  std::string result;
};

KvWorkload::KvWorkload(const KvWorkloadOptions& options, io::Env env, io::NodeId client,
                       RunContext& context, std::vector<KeyOperation>& history,
                       uint64_t& next_operation_id, KvSubmit submit)
    : options_(options),
      env_(env),
      client_(client),
      context_(context),
      history_(history),
      next_operation_id_(next_operation_id),
      submit_(std::move(submit)),
      fiber_([this] { run(); }) {
  KEEL_ASSERT(options_.keys >= 1 && options_.keys <= keys_max);
  KEEL_ASSERT(options_.value_size_bytes_max <= value_size_bytes_limit);
  KEEL_ASSERT(options_.write_fraction >= 0.0 && options_.write_fraction <= 1.0);
  KEEL_ASSERT(options_.idle_poll_ns > 0);
  KEEL_ASSERT(submit_);
  start_timer_ = env_.timers.start(env_.random.range(0, options_.start_delay_ns_max), [this] {
    start_timer_ = io::timer_id_none;
    fiber_.resume();
  });
}

KvWorkload::~KvWorkload() {
  if (start_timer_ != io::timer_id_none) env_.timers.cancel(start_timer_);
}

// Runs until the process is destroyed: the run asks for requests in its safety phase, then none
// for a while, then again in its liveness phase, so an idle client keeps asking.
void KvWorkload::run() {
  while (true) {
    if (!context_.more_requests(client_)) {
      io::sleep_ns(env_.timers, options_.idle_poll_ns);
      continue;
    }
    run_command();
    const uint64_t think_ns = env_.random.exponential(options_.think_mean_ns);
    if (think_ns > 0) io::sleep_ns(env_.timers, think_ns);
  }
}

void KvWorkload::run_command() {
  const uint64_t id = next_operation_id_++;
  const Command command = draw_command();
  const size_t first = record_invocation(command, id, context_.now_ns());
  commands_invoked_++;
  context_.client_invoked(client_, id, static_cast<uint64_t>(command.command_case()));

  // The outcome is shared with done only weakly: if this fiber is destroyed while it waits, the
  // outcome goes with its stack, and a later done finds nothing to write to.
  io::FiberSignal signal(env_.timers);
  const auto outcome = std::make_shared<Outcome>();
  outcome->signal = &signal;
  submit_(command.SerializeAsString(),
          [weak = std::weak_ptr<Outcome>(outcome)](bool known, std::string result) {
            const std::shared_ptr<Outcome> alive = weak.lock();
            if (alive == nullptr || alive->done) return;
            alive->done = true;
            alive->known = known;
            alive->result = std::move(result);
            alive->signal->set();
          });
  while (!outcome->done) signal.wait(outcome_wait_ns);
  record_completion(command, id, first, *outcome);
}

Command KvWorkload::draw_command() {
  Command command;
  const bool write = env_.random.chance(options_.write_fraction);
  const uint64_t pick = env_.random.uniform(100);
  if (write && pick < 35) {
    command.mutable_set()->set_key(draw_keys(1, 1)[0]);
    command.mutable_set()->set_value(draw_value());
  } else if (write && pick < 55) {
    command.mutable_incr_by()->set_key(draw_keys(1, 1)[0]);
    command.mutable_incr_by()->set_delta(static_cast<int64_t>(env_.random.range(0, 10)) - 5);
  } else if (write && pick < 70) {
    command.mutable_append()->set_key(draw_keys(1, 1)[0]);
    std::string suffix = fmt::format("/{}", values_drawn_++);
    suffix.resize(std::min<uint64_t>(suffix.size(), options_.value_size_bytes_max));
    command.mutable_append()->set_value(std::move(suffix));
  } else if (write && pick < 85) {
    for (std::string& key : draw_keys(2, 3)) {
      kv::proto::KeyValue* pair = command.mutable_mset()->add_pairs();
      pair->set_key(std::move(key));
      pair->set_value(draw_value());
    }
  } else if (write) {
    for (std::string& key : draw_keys(1, 2)) command.mutable_del()->add_keys(std::move(key));
  } else if (pick < 50) {
    command.set_get(draw_keys(1, 1)[0]);
  } else if (pick < 70) {
    for (std::string& key : draw_keys(2, 3)) command.mutable_mget()->add_keys(std::move(key));
  } else if (pick < 85) {
    for (std::string& key : draw_keys(1, 2)) command.mutable_exists()->add_keys(std::move(key));
  } else {
    command.set_strlen(draw_keys(1, 1)[0]);
  }
  return command;
}

// Distinct keys, so that a multi-key command's count splits cleanly per key where it can.
std::vector<std::string> KvWorkload::draw_keys(uint32_t count_min, uint32_t count_max) {
  KEEL_ASSERT(count_min >= 1 && count_min <= count_max);
  const uint32_t count = static_cast<uint32_t>(
      env_.random.range(std::min(count_min, options_.keys), std::min(count_max, options_.keys)));
  std::vector<uint32_t> indexes(options_.keys);
  for (uint32_t index = 0; index < options_.keys; index++) indexes[index] = index;
  std::vector<std::string> keys;
  for (uint32_t drawn = 0; drawn < count; drawn++) {
    const uint64_t pick = drawn + env_.random.uniform(options_.keys - drawn);
    std::swap(indexes[drawn], indexes[pick]);
    keys.push_back(fmt::format("k{}", indexes[drawn]));
  }
  return keys;
}

// Values differ from each other (the checker then tells writes apart) unless value_size_bytes_max
// truncates them. A third are integers, so that INCRBY often succeeds; the rest are not.
std::string KvWorkload::draw_value() {
  const uint64_t serial = values_drawn_++;
  std::string value;
  if (env_.random.uniform(3) == 0) {
    const int64_t integer = static_cast<int64_t>(serial * 100 + client_ % 100);
    value = std::to_string(env_.random.chance(0.5) ? -integer : integer);
  } else {
    value = fmt::format("c{}.{}", client_, serial);
  }
  value.resize(std::min<uint64_t>(value.size(), options_.value_size_bytes_max));
  return value;
}

size_t KvWorkload::record_invocation(const Command& command, uint64_t id, uint64_t invoke_ns) {
  const size_t first = history_.size();
  using Kind = KeyOperation::Kind;
  switch (command.command_case()) {
    case Command::kSet:
      history_.push_back(key_operation(Kind::set, command.set().key(), command.set().value()));
      break;
    case Command::kGet:
      history_.push_back(key_operation(Kind::get, command.get()));
      break;
    case Command::kDel:
      for (const std::string& key : command.del().keys()) {
        history_.push_back(key_operation(Kind::del, key));
      }
      break;
    case Command::kExists:
      for (const std::string& key : command.exists().keys()) {
        history_.push_back(key_operation(Kind::exists, key));
      }
      break;
    case Command::kIncrBy:
      history_.push_back(key_operation(Kind::incr_by, command.incr_by().key()));
      history_.back().delta = command.incr_by().delta();
      break;
    case Command::kMset:
      for (const kv::proto::KeyValue& pair : command.mset().pairs()) {
        history_.push_back(key_operation(Kind::set, pair.key(), pair.value()));
      }
      break;
    case Command::kMget:
      for (const std::string& key : command.mget().keys()) {
        history_.push_back(key_operation(Kind::get, key));
      }
      break;
    case Command::kAppend:
      history_.push_back(
          key_operation(Kind::append, command.append().key(), command.append().value()));
      break;
    case Command::kStrlen:
      history_.push_back(key_operation(Kind::strlen, command.strlen()));
      break;
    case Command::kDbsize:  // the workload issues neither: no per-key history for them
    case Command::kBatch:
    case Command::COMMAND_NOT_SET:
      KEEL_ASSERT(false);
  }
  // One id per command: the per-key parts of a multi-key command share it, as in the trace.
  for (size_t index = first; index < history_.size(); index++) {
    history_[index].id = id;
    history_[index].client = client_;
    history_[index].invoke_ns = invoke_ns;
  }
  KEEL_ASSERT(history_.size() - first == key_count(command));
  return first;
}

void KvWorkload::record_completion(const Command& command, uint64_t id, size_t first,
                                   const Outcome& outcome) {
  KEEL_ASSERT(outcome.done);
  if (!outcome.known) {
    commands_unknown_++;  // complete_ns stays UINT64_MAX: it may or may not have taken effect
    context_.client_completed(client_, id, false, 0);
    return;
  }
  commands_known_++;
  const uint64_t complete_ns = context_.now_ns();
  for (uint32_t part = 0; part < key_count(command); part++) {
    history_[first + part].complete_ns = complete_ns;
  }
  Result result;
  if (!result.ParseFromString(outcome.result) || !record_result(command, first, result)) {
    context_.violation(fmt::format("client {} operation {}: the result does not answer {}", client_,
                                   id, format_operation(history_[first])));
  }
  context_.client_completed(client_, id, true,
                            XXH3_64bits(outcome.result.data(), outcome.result.size()));
}

// Fills in each key's observed output. False if the result cannot answer the command at all (a
// reply meant for another command, say): no history explains that.
bool KvWorkload::record_result(const Command& command, size_t first, const Result& result) {
  const uint32_t count = key_count(command);
  KeyOperation* parts = &history_[first];
  if (result.has_error()) {
    const kv::proto::ErrorCode code = result.error().code();
    if (command.has_incr_by() &&
        (code == kv::proto::NOT_AN_INTEGER || code == kv::proto::OVERFLOW)) {
      parts[0].error = true;  // The checker knows when INCRBY must refuse.
      return true;
    }
    // The checker models no other error (a full store, a value grown too large): the command
    // changed nothing, so it stays in the history (whose positions other clients' commands in
    // flight rely on) as a no-op, an EXISTS whose count is not known.
    errors_unmodeled_++;
    for (uint32_t part = 0; part < count; part++) {
      parts[part].kind = KeyOperation::Kind::exists;
      parts[part].argument.clear();
      parts[part].delta = 0;
      parts[part].count_known = false;
    }
    return true;
  }
  switch (command.command_case()) {
    case Command::kSet:
    case Command::kMset:
      return result.has_ok() && result.ok();
    case Command::kGet:
    case Command::kMget: {
      if (command.has_get() && !result.has_value()) return false;
      if (command.has_mget() &&
          (!result.has_values() || static_cast<uint32_t>(result.values().values_size()) != count)) {
        return false;
      }
      for (uint32_t part = 0; part < count; part++) {
        const kv::proto::OptionalValue& value =
            command.has_get() ? result.value() : result.values().values(static_cast<int>(part));
        parts[part].found = value.found();
        parts[part].value = value.value();
      }
      return true;
    }
    case Command::kDel:
    case Command::kExists: {
      if (!result.has_integer() || result.integer() < 0 || result.integer() > count) return false;
      // Per key the count is 0 or 1; a total other than none or all does not say which keys.
      const bool split = count == 1 || result.integer() == 0 || result.integer() == count;
      for (uint32_t part = 0; part < count; part++) {
        parts[part].count_known = split;
        parts[part].integer = split ? std::min<int64_t>(result.integer(), 1) : 0;
      }
      return true;
    }
    case Command::kIncrBy:
    case Command::kAppend:
    case Command::kStrlen:
      if (!result.has_integer()) return false;
      parts[0].integer = result.integer();
      return true;
    case Command::kDbsize:
    case Command::kBatch:
    case Command::COMMAND_NOT_SET:
      break;
  }
  return false;
}

}  // namespace keel::sim
