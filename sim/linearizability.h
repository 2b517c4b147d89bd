#pragma once
// The linearizability checker for KV histories: Wing & Gong's search with Lowe's memoisation
// (each pair of "operations linearized so far" and "state" is explored once), split per key.
// A key-value map is P-compositional (Horn & Kroening, 2015): a history is linearizable iff each
// key's sub-history is, so each key is searched on its own. Multi-key commands are recorded as
// one operation per key with the same invocation and completion times; their atomicity across
// keys is therefore not checked.
//
// An operation whose outcome the client never saw (it timed out, or was still running when the
// run ended) may or may not have taken effect: it is placed anywhere after its invocation, with
// any output, or nowhere. Sessions bound "anywhere": a replicated session applies a client's
// requests in order and at most once, so once a later request of the same client is seen to
// complete, an earlier one can no longer take effect. The checker holds the protocol to that
// (it is part of what sessions promise) and it keeps the search small where many operations time
// out. A search that runs out of its step budget says "unknown", never "linearizable".

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace keel::sim {

struct KeyOperation {
  enum class Kind : uint8_t { set, get, del, exists, incr_by, append, strlen };

  uint64_t id = 0;  // unique in the history, for reports
  uint32_t client = 0;
  uint64_t invoke_ns = 0;
  uint64_t complete_ns = UINT64_MAX;  // UINT64_MAX: the outcome was never seen
  std::string key;
  Kind kind = Kind::get;
  std::string argument;  // SET and APPEND
  int64_t delta = 0;     // INCRBY

  // The observed output, when complete_ns is not UINT64_MAX.
  bool found = false;       // GET
  std::string value;        // GET
  int64_t integer = 0;      // DEL and EXISTS (0 or 1 for this key), INCRBY, APPEND, STRLEN
  bool error = false;       // INCRBY refused (not an integer, overflow)
  bool count_known = true;  // false for the per-key part of a multi-key DEL or EXISTS
  // An unseen outcome's latest possible effect: the completion of the client's next request
  // whose outcome was seen (set by check_linearizability; UINT64_MAX: none).
  uint64_t effect_deadline_ns = UINT64_MAX;

  bool outcome_known() const { return complete_ns != UINT64_MAX; }
  // When the operation's effect (if any) must have happened by.
  uint64_t deadline_ns() const { return outcome_known() ? complete_ns : effect_deadline_ns; }
};

struct LinearizabilityResult {
  enum class Verdict { linearizable, not_linearizable, unknown };
  Verdict verdict = Verdict::linearizable;
  uint64_t keys_checked = 0;
  uint64_t steps = 0;
  std::string key;                   // the offending key (not linearizable or unknown)
  std::vector<KeyOperation> window;  // a smallest non-linearizable sub-history of that key
  std::string report;                // human-readable; empty when linearizable
};

struct LinearizabilityLimits {
  uint64_t steps_max = 10'000'000;  // per key; past it the verdict is unknown
  uint64_t minimize_ops_max = 200;  // larger failing histories are reported unminimized
};

// GET, EXISTS and STRLEN change no state.
bool reads_only(KeyOperation::Kind kind);

LinearizabilityResult check_linearizability(const std::vector<KeyOperation>& history,
                                            const LinearizabilityLimits& limits = {});

std::string format_operation(const KeyOperation& operation);
// A self-contained HTML page showing the window on a timeline, one row per client.
std::string window_html(const LinearizabilityResult& result);

}  // namespace keel::sim
