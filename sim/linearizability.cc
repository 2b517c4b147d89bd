#include "sim/linearizability.h"

#include <fmt/format.h>

#include <algorithm>
#include <map>

#include "absl/container/flat_hash_set.h"
#include "absl/hash/hash.h"
#include "io/assert.h"
#include "workloads/kv/state_machine.h"

namespace keel::sim {
namespace {

using Value = std::optional<std::string>;

// The effect of op on one key's value, if op's observed output is possible from value.
std::optional<Value> step(const Value& value, const KeyOperation& op) {
  const bool known = op.outcome_known();
  switch (op.kind) {
    case KeyOperation::Kind::set:
      return Value(op.argument);
    case KeyOperation::Kind::get:
      if (known && (op.found != value.has_value() || (op.found && op.value != *value))) {
        return std::nullopt;
      }
      return value;
    case KeyOperation::Kind::del:
      if (known && op.count_known && op.integer != (value ? 1 : 0)) return std::nullopt;
      return Value();
    case KeyOperation::Kind::exists:
      if (known && op.count_known && op.integer != (value ? 1 : 0)) return std::nullopt;
      return value;
    case KeyOperation::Kind::incr_by: {
      int64_t current = 0, next = 0;
      const bool valid = !value || kv::StateMachine::parse_integer(*value, current);
      if (!valid || __builtin_add_overflow(current, op.delta, &next)) {
        if (known && !op.error) return std::nullopt;
        return value;  // Refused: nothing changes.
      }
      if (known && (op.error || op.integer != next)) return std::nullopt;
      return Value(std::to_string(next));
    }
    case KeyOperation::Kind::append: {
      std::string next = value.value_or("") + op.argument;
      if (known && op.integer != static_cast<int64_t>(next.size())) return std::nullopt;
      return Value(std::move(next));
    }
    case KeyOperation::Kind::strlen:
      if (known && op.integer != static_cast<int64_t>(value ? value->size() : 0)) {
        return std::nullopt;
      }
      return value;
  }
  return std::nullopt;
}

struct CacheKey {
  std::vector<uint64_t> linearized;
  Value value;
  bool operator==(const CacheKey&) const = default;
  template <typename H>
  friend H AbslHashValue(H hash, const CacheKey& key) {
    return H::combine(std::move(hash), key.linearized, key.value);
  }
};

enum class SearchVerdict { linearizable, not_linearizable, unknown };

// Wing & Gong's search with Lowe's memoisation over one key's operations.
class Search {
 public:
  struct Frame {
    uint32_t call;
    uint32_t choice;
    Value value;
  };

  explicit Search(const std::vector<const KeyOperation*>& ops) : ops_(ops) {
    // Nodes: 0 is the head, 1..2n the calls and returns in time order, 2n+1 the tail.
    struct Event {
      uint64_t time_ns;
      bool is_return;
      uint32_t op;
    };
    std::vector<Event> events;
    for (uint32_t i = 0; i < ops.size(); i++) {
      events.push_back({ops[i]->invoke_ns, false, i});
      events.push_back({ops[i]->deadline_ns(), true, i});
    }
    // At the same instant calls come first: touching operations count as concurrent.
    std::sort(events.begin(), events.end(), [](const Event& a, const Event& b) {
      if (a.time_ns != b.time_ns) return a.time_ns < b.time_ns;
      if (a.is_return != b.is_return) return !a.is_return;
      return a.op < b.op;
    });
    const size_t nodes = events.size() + 2;
    next_.resize(nodes);
    prev_.resize(nodes);
    is_call_.assign(nodes, false);
    op_of_.assign(nodes, 0);
    match_.assign(nodes, 0);
    std::vector<uint32_t> call_node(ops.size()), return_node(ops.size());
    for (size_t i = 0; i < nodes; i++) {
      next_[i] = static_cast<uint32_t>(i + 1);
      prev_[i] = i == 0 ? 0 : static_cast<uint32_t>(i - 1);
    }
    for (size_t i = 0; i < events.size(); i++) {
      const uint32_t node = static_cast<uint32_t>(i + 1);
      is_call_[node] = !events[i].is_return;
      op_of_[node] = events[i].op;
      (events[i].is_return ? return_node : call_node)[events[i].op] = node;
    }
    for (uint32_t op = 0; op < ops.size(); op++) match_[call_node[op]] = return_node[op];
    tail_ = static_cast<uint32_t>(nodes - 1);
  }

  SearchVerdict run(const Value& initial, uint64_t steps_max, uint64_t& steps) {
    std::vector<uint64_t> linearized((ops_.size() + 63) / 64, 0);
    Cache cache;

    std::vector<Frame> stack;
    Value value = initial;
    uint32_t node = next_[0];
    // An operation with an unseen outcome and a deadline may also have had no effect: it is
    // tried applied (choice 0), then as a no-op (choice 1). Without a deadline, "applied after
    // everything else" already stands for "no effect".
    uint32_t choice_first = 0;
    while (next_[0] != tail_) {
      if (++steps > steps_max) return SearchVerdict::unknown;
      KEEL_ASSERT(node != tail_);
      const uint32_t op = op_of_[node];
      if (is_call_[node]) {
        const uint32_t choice_last = may_be_no_op(*ops_[op]) ? 1 : 0;
        bool moved = false;
        for (uint32_t choice = choice_first; choice <= choice_last && !moved; choice++) {
          moved = try_linearize(node, choice, value, linearized, cache, stack);
        }
        choice_first = 0;
        if (moved) {
          node = next_[0];
          continue;
        }
        node = next_[node];
        continue;
      }
      // A return whose operation is not linearized yet: undo the latest choice.
      if (stack.empty()) return SearchVerdict::not_linearizable;
      Frame frame = std::move(stack.back());
      stack.pop_back();
      const uint32_t undone = op_of_[frame.call];
      linearized[undone / 64] &= ~(uint64_t{1} << (undone % 64));
      value = std::move(frame.value);
      unlift(frame.call);
      if (frame.choice == 0 && may_be_no_op(*ops_[undone])) {
        node = frame.call;  // the same operation again, as a no-op
        choice_first = 1;
      } else {
        node = next_[frame.call];
      }
    }
    return SearchVerdict::linearizable;
  }

 private:
  using Cache = absl::flat_hash_set<CacheKey>;  // Looked up only: its order never matters.

  static bool may_be_no_op(const KeyOperation& op) {
    return !op.outcome_known() && op.effect_deadline_ns != UINT64_MAX;
  }

  // Linearizes the call at node (applied, or for choice 1 as a no-op) if its output fits value
  // and the resulting configuration is new; returns whether it did.
  bool try_linearize(uint32_t node, uint32_t choice, Value& value,
                     std::vector<uint64_t>& linearized, Cache& cache, std::vector<Frame>& stack) {
    const uint32_t op = op_of_[node];
    std::optional<Value> after = choice == 0 ? step(value, *ops_[op]) : std::optional<Value>(value);
    if (!after) return false;
    linearized[op / 64] |= uint64_t{1} << (op % 64);
    if (!cache.insert(CacheKey{linearized, *after}).second) {
      linearized[op / 64] &= ~(uint64_t{1} << (op % 64));
      return false;
    }
    stack.push_back(Frame{node, choice, std::move(value)});
    value = std::move(*after);
    lift(node);
    return true;
  }

  void unlink(uint32_t node) {
    next_[prev_[node]] = next_[node];
    prev_[next_[node]] = prev_[node];
  }
  void relink(uint32_t node) {
    next_[prev_[node]] = node;
    prev_[next_[node]] = node;
  }
  void lift(uint32_t call) {
    unlink(call);
    unlink(match_[call]);
  }
  void unlift(uint32_t call) {
    relink(match_[call]);
    relink(call);
  }

  const std::vector<const KeyOperation*>& ops_;
  std::vector<uint32_t> next_, prev_, op_of_, match_;
  std::vector<bool> is_call_;
  uint32_t tail_ = 0;
};

SearchVerdict search(const std::vector<const KeyOperation*>& ops, const Value& initial,
                     uint64_t steps_max, uint64_t& steps) {
  Search search(ops);
  return search.run(initial, steps_max, steps);
}

// Values the key may have held when a window of the history opened: absent, anything written or
// read in it, and what an increment's result implies was there before.
std::vector<Value> initial_candidates(const std::vector<const KeyOperation*>& ops) {
  std::vector<Value> candidates = {Value()};
  for (const KeyOperation* op : ops) {
    if (op->kind == KeyOperation::Kind::set) candidates.emplace_back(op->argument);
    if (op->kind == KeyOperation::Kind::get && op->found) candidates.emplace_back(op->value);
    if (op->kind == KeyOperation::Kind::incr_by && op->outcome_known() && !op->error) {
      candidates.emplace_back(std::to_string(op->integer - op->delta));
    }
  }
  std::sort(candidates.begin(), candidates.end());
  candidates.erase(std::unique(candidates.begin(), candidates.end()), candidates.end());
  return candidates;
}

// True if no candidate state at the window's start explains the window.
bool fails_from_any_start(const std::vector<const KeyOperation*>& ops, uint64_t steps_max) {
  for (const Value& initial : initial_candidates(ops)) {
    uint64_t steps = 0;
    if (search(ops, initial, steps_max, steps) != SearchVerdict::not_linearizable) return false;
  }
  return true;
}

// A smallest window that shows the violation on its own: the history up to the first prefix (in
// invocation order) that fails, then operations dropped from its start and from inside while it
// still fails from whatever state the key held when the window opened.
std::vector<const KeyOperation*> minimize(std::vector<const KeyOperation*> ops,
                                          uint64_t steps_max) {
  std::sort(ops.begin(), ops.end(), [](const KeyOperation* a, const KeyOperation* b) {
    return a->invoke_ns != b->invoke_ns ? a->invoke_ns < b->invoke_ns : a->id < b->id;
  });
  for (size_t end = 1; end <= ops.size(); end++) {
    const std::vector<const KeyOperation*> prefix(ops.begin(),
                                                  ops.begin() + static_cast<ptrdiff_t>(end));
    uint64_t steps = 0;
    if (search(prefix, Value(), steps_max, steps) == SearchVerdict::not_linearizable) {
      ops = prefix;
      break;
    }
  }
  size_t start = 0;
  while (start + 1 < ops.size()) {
    const std::vector<const KeyOperation*> rest(ops.begin() + static_cast<ptrdiff_t>(start + 1),
                                                ops.end());
    if (!fails_from_any_start(rest, steps_max)) break;
    start++;
  }
  ops.erase(ops.begin(), ops.begin() + static_cast<ptrdiff_t>(start));
  if (!fails_from_any_start(ops, steps_max)) return ops;  // Only the whole prefix shows it.
  for (size_t i = ops.size(); i-- > 0;) {
    std::vector<const KeyOperation*> without = ops;
    without.erase(without.begin() + static_cast<ptrdiff_t>(i));
    if (!without.empty() && fails_from_any_start(without, steps_max)) ops = std::move(without);
  }
  return ops;
}

std::string printable(const std::string& bytes) {
  std::string out;
  for (unsigned char c : bytes) {
    if (c >= 0x20 && c < 0x7f && c != '\'' && c != '\\')
      out += static_cast<char>(c);
    else
      out += fmt::format("\\x{:02x}", c);
  }
  return "'" + out + "'";
}

std::string format_time(uint64_t ns) {
  return ns == UINT64_MAX ? std::string("never") : fmt::format("{:.3f}ms", ns / 1e6);
}

std::string html_escape(const std::string& text) {
  std::string out;
  for (char c : text) {
    switch (c) {
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '&':
        out += "&amp;";
        break;
      case '"':
        out += "&quot;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

}  // namespace

std::string format_operation(const KeyOperation& op) {
  std::string call;
  switch (op.kind) {
    case KeyOperation::Kind::set:
      call = fmt::format("SET {} {}", printable(op.key), printable(op.argument));
      break;
    case KeyOperation::Kind::get:
      call = fmt::format("GET {}", printable(op.key));
      break;
    case KeyOperation::Kind::del:
      call = fmt::format("DEL {}", printable(op.key));
      break;
    case KeyOperation::Kind::exists:
      call = fmt::format("EXISTS {}", printable(op.key));
      break;
    case KeyOperation::Kind::incr_by:
      call = fmt::format("INCRBY {} {}", printable(op.key), op.delta);
      break;
    case KeyOperation::Kind::append:
      call = fmt::format("APPEND {} {}", printable(op.key), printable(op.argument));
      break;
    case KeyOperation::Kind::strlen:
      call = fmt::format("STRLEN {}", printable(op.key));
      break;
  }
  std::string output = "?";
  if (op.outcome_known()) {
    switch (op.kind) {
      case KeyOperation::Kind::set:
        output = "OK";
        break;
      case KeyOperation::Kind::get:
        output = op.found ? printable(op.value) : "(nil)";
        break;
      case KeyOperation::Kind::incr_by:
        output = op.error ? std::string("(error)") : fmt::format("{}", op.integer);
        break;
      default:
        output =
            op.count_known ? fmt::format("{}", op.integer) : std::string("(count of several keys)");
    }
  }
  return fmt::format("op {} client {} [{} .. {}] {} -> {}", op.id, op.client,
                     format_time(op.invoke_ns), format_time(op.complete_ns), call, output);
}

bool reads_only(KeyOperation::Kind kind) {
  return kind == KeyOperation::Kind::get || kind == KeyOperation::Kind::exists ||
         kind == KeyOperation::Kind::strlen;
}

// Each unseen outcome's effect deadline: the completion of its client's next request (by
// invocation; a multi-key command's parts share theirs) whose outcome was seen.
std::vector<KeyOperation> with_effect_deadlines(const std::vector<KeyOperation>& history) {
  std::vector<KeyOperation> bounded = history;
  std::vector<size_t> order(bounded.size());
  for (size_t i = 0; i < order.size(); i++) order[i] = i;
  std::sort(order.begin(), order.end(), [&bounded](size_t a, size_t b) {
    const KeyOperation& x = bounded[a];
    const KeyOperation& y = bounded[b];
    if (x.client != y.client) return x.client < y.client;
    return x.invoke_ns != y.invoke_ns ? x.invoke_ns < y.invoke_ns : x.id < y.id;
  });
  // Backwards through each client's operations, remembering the earliest seen completion of a
  // request invoked later than the current one.
  uint64_t deadline = UINT64_MAX;
  uint64_t deadline_pending = UINT64_MAX;  // from the request being walked, not yet "later"
  uint64_t invoke_pending = UINT64_MAX;
  for (size_t at = order.size(); at-- > 0;) {
    KeyOperation& op = bounded[order[at]];
    const bool client_changed = at + 1 < order.size() && bounded[order[at + 1]].client != op.client;
    if (client_changed) deadline = deadline_pending = invoke_pending = UINT64_MAX;
    if (op.invoke_ns != invoke_pending) {
      deadline = std::min(deadline, deadline_pending);
      deadline_pending = UINT64_MAX;
      invoke_pending = op.invoke_ns;
    }
    if (!op.outcome_known()) op.effect_deadline_ns = deadline;
    if (op.outcome_known()) deadline_pending = std::min(deadline_pending, op.complete_ns);
  }
  return bounded;
}

LinearizabilityResult check_linearizability(const std::vector<KeyOperation>& history_in,
                                            const LinearizabilityLimits& limits) {
  const std::vector<KeyOperation> history = with_effect_deadlines(history_in);
  // Split per key, in key order so that reports are stable.
  std::map<std::string, std::vector<const KeyOperation*>> by_key;
  for (const KeyOperation& op : history) {
    KEEL_ASSERT(op.invoke_ns <= op.complete_ns);
    // A read whose output was never seen changes nothing and constrains nothing: it fits any
    // linearization, so the search need not place it.
    if (!op.outcome_known() && reads_only(op.kind)) continue;
    by_key[op.key].push_back(&op);
  }
  LinearizabilityResult result;
  std::optional<std::string> unknown_key;
  for (const auto& [key, ops] : by_key) {
    result.keys_checked++;
    uint64_t steps = 0;
    const SearchVerdict verdict = search(ops, Value(), limits.steps_max, steps);
    result.steps += steps;
    if (verdict == SearchVerdict::unknown && !unknown_key) unknown_key = key;
    if (verdict != SearchVerdict::not_linearizable) continue;

    result.verdict = LinearizabilityResult::Verdict::not_linearizable;
    result.key = key;
    const std::vector<const KeyOperation*> window =
        ops.size() <= limits.minimize_ops_max ? minimize(ops, limits.steps_max) : ops;
    for (const KeyOperation* op : window) result.window.push_back(*op);
    result.report = fmt::format(
        "not linearizable: key {} ({} operations on it); {} window of {} operations that no "
        "order explains:\n",
        printable(key), ops.size(), window.size() < ops.size() ? "a smallest" : "the whole",
        window.size());
    for (const KeyOperation& op : result.window)
      result.report += "  " + format_operation(op) + "\n";
    return result;  // The first key that fails is enough.
  }
  if (unknown_key) {
    result.verdict = LinearizabilityResult::Verdict::unknown;
    result.key = *unknown_key;
    result.report = fmt::format("unknown: the search of key {} ran out of its budget of {} steps",
                                printable(*unknown_key), limits.steps_max);
  }
  return result;
}

std::string window_html(const LinearizabilityResult& result) {
  uint64_t start = UINT64_MAX, end = 0;
  for (const KeyOperation& op : result.window) {
    start = std::min(start, op.invoke_ns);
    end = std::max(end, op.outcome_known() ? op.complete_ns : op.invoke_ns);
  }
  const double span = end > start ? static_cast<double>(end - start) : 1.0;
  std::string rows;
  int row = 0;
  for (const KeyOperation& op : result.window) {
    const double left = 100.0 * static_cast<double>(op.invoke_ns - start) / span * 0.8;
    const double stop =
        op.outcome_known() ? static_cast<double>(op.complete_ns - start) : span * 1.2;
    const double width = std::max(1.0, 100.0 * stop / span * 0.8 - left);
    rows += fmt::format(
        "<div class=op style=\"top:{}px;left:{:.2f}%;width:{:.2f}%\" title=\"{}\">{}</div>\n",
        20 + 34 * row++, left, width, html_escape(format_operation(op)),
        html_escape(format_operation(op)));
  }
  return fmt::format(
      "<!doctype html><html><head><meta charset=utf-8><title>keel: not linearizable</title>"
      "<style>body{{font:14px sans-serif}}#t{{position:relative;height:{}px}}"
      ".op{{position:absolute;height:26px;background:#fde;border:1px solid #c69;"
      "white-space:nowrap;overflow:visible;padding:3px;box-sizing:border-box}}</style></head>"
      "<body><h1>Not linearizable</h1><pre>{}</pre><div id=t>\n{}</div></body></html>\n",
      40 + 34 * row, html_escape(result.report), rows);
}

}  // namespace keel::sim
