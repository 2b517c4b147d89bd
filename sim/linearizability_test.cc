// The linearizability checker is no rubber stamp: known-bad histories are rejected, known-good
// ones (with concurrency and with operations whose outcome was never seen) are accepted, and a
// search that runs out of budget says "unknown".

#include "sim/linearizability.h"

#include <gtest/gtest.h>
#include <rapidcheck/gtest.h>

#include "workloads/kv/state_machine.h"

namespace keel::sim {
namespace {

using Kind = KeyOperation::Kind;
using Verdict = LinearizabilityResult::Verdict;
constexpr uint64_t never = UINT64_MAX;

struct History {
  std::vector<KeyOperation> ops;

  KeyOperation& add(Kind kind, const std::string& key, uint64_t invoke, uint64_t complete,
                    uint32_t client = 1) {
    KeyOperation op;
    op.id = ops.size();
    op.client = client;
    op.kind = kind;
    op.key = key;
    op.invoke_ns = invoke;
    op.complete_ns = complete;
    ops.push_back(op);
    return ops.back();
  }
  void set(const std::string& key, const std::string& value, uint64_t invoke, uint64_t complete,
           uint32_t client = 1) {
    add(Kind::set, key, invoke, complete, client).argument = value;
  }
  void get(const std::string& key, std::optional<std::string> value, uint64_t invoke,
           uint64_t complete, uint32_t client = 1) {
    KeyOperation& op = add(Kind::get, key, invoke, complete, client);
    op.found = value.has_value();
    op.value = value.value_or("");
  }
  void incr(const std::string& key, int64_t result, uint64_t invoke, uint64_t complete,
            uint32_t client = 1) {
    KeyOperation& op = add(Kind::incr_by, key, invoke, complete, client);
    op.delta = 1;
    op.integer = result;
  }
  Verdict verdict(const LinearizabilityLimits& limits = {}) const {
    return check_linearizability(ops, limits).verdict;
  }
};

TEST(Linearizability, AcceptsASequentialHistory) {
  History h;
  h.set("a", "1", 0, 10);
  h.get("a", "1", 20, 30);
  h.set("a", "2", 40, 50);
  h.get("a", "2", 60, 70);
  EXPECT_EQ(h.verdict(), Verdict::linearizable);
}

TEST(Linearizability, AcceptsAReadConcurrentWithAWriteSeeingEitherValue) {
  for (const char* seen : {"1", "2"}) {
    History h;
    h.set("a", "1", 0, 10);
    h.set("a", "2", 20, 60, 1);
    h.get("a", std::string(seen), 30, 50, 2);
    EXPECT_EQ(h.verdict(), Verdict::linearizable) << seen;
  }
}

TEST(Linearizability, AcceptsReadsThatOrderConcurrentWritesTheSameWay) {
  History h;
  h.set("a", "x", 0, 100, 1);
  h.set("a", "y", 0, 100, 2);
  h.get("a", "y", 110, 120, 3);
  h.get("a", "y", 130, 140, 3);
  EXPECT_EQ(h.verdict(), Verdict::linearizable);
}

TEST(Linearizability, AcceptsATimedOutWriteThatTookEffect) {
  History h;
  h.set("a", "1", 0, 10);
  h.set("a", "2", 20, never);
  h.get("a", "2", 500, 510);
  EXPECT_EQ(h.verdict(), Verdict::linearizable);
}

TEST(Linearizability, AcceptsATimedOutWriteThatNeverTookEffect) {
  History h;
  h.set("a", "1", 0, 10);
  h.set("a", "2", 20, never);
  h.get("a", "1", 500, 510);
  h.get("a", "1", 600, 610);
  EXPECT_EQ(h.verdict(), Verdict::linearizable);
}

TEST(Linearizability, AcceptsATimedOutWriteThatTookEffectLate) {
  History h;
  h.set("a", "1", 0, 10);
  h.set("a", "2", 20, never);
  h.get("a", "1", 500, 510);
  h.get("a", "2", 600, 610);  // It landed between the two reads.
  EXPECT_EQ(h.verdict(), Verdict::linearizable);
}

// Sessions apply a client's requests in order, at most once: once a later request of the same
// client completed (on any key), an earlier one whose outcome was never seen can no longer take
// effect.
TEST(Linearizability, RejectsATimedOutWriteTakingEffectAfterItsClientMovedOn) {
  History h;
  h.set("a", "1", 0, never, 1);
  h.get("b", std::nullopt, 100, 200, 1);  // the client's next request, on another key
  h.get("a", std::nullopt, 300, 310, 2);
  h.get("a", "1", 400, 410, 2);
  EXPECT_EQ(h.verdict(), Verdict::not_linearizable);
}

TEST(Linearizability, AcceptsATimedOutWriteTakingEffectLateWhileItsClientWaits) {
  History h;
  h.set("a", "1", 0, never, 1);
  h.get("b", std::nullopt, 100, never, 1);  // the next request timed out too: no bound yet
  h.get("a", std::nullopt, 300, 310, 2);
  h.get("a", "1", 400, 410, 2);
  EXPECT_EQ(h.verdict(), Verdict::linearizable);
  History other_client;  // the same, but another client moved on: no bound either
  other_client.set("a", "1", 0, never, 1);
  other_client.get("b", std::nullopt, 100, 200, 3);
  other_client.get("a", std::nullopt, 300, 310, 2);
  other_client.get("a", "1", 400, 410, 2);
  EXPECT_EQ(other_client.verdict(), Verdict::linearizable);
}

// Many timed-out writes, each bounded by its client's next completed request: the search stays
// small (without the bounds every one of them stays open to the end and the search explodes).
TEST(Linearizability, BoundedTimeoutsKeepTheSearchSmall) {
  History h;
  uint64_t t = 0;
  for (int i = 0; i < 200; i++) {
    h.incr("a", 0, t, never, 1);  // output unknown
    h.get("b", std::nullopt, t + 10, t + 20, 1);
    t += 100;
  }
  h.get("a", std::nullopt, t, t + 10, 2);  // none of them took effect
  LinearizabilityLimits limits;
  limits.steps_max = 100'000;
  EXPECT_EQ(h.verdict(limits), Verdict::linearizable);
}

TEST(Linearizability, RejectsAStaleRead) {
  History h;
  h.set("a", "1", 0, 10);
  h.set("a", "2", 20, 30);
  h.get("a", "1", 40, 50);
  EXPECT_EQ(h.verdict(), Verdict::not_linearizable);
}

TEST(Linearizability, RejectsALostWrite) {
  History h;
  h.set("a", "1", 0, 10);
  h.get("a", std::nullopt, 20, 30);
  EXPECT_EQ(h.verdict(), Verdict::not_linearizable);
}

TEST(Linearizability, RejectsAWriteAppliedTwice) {
  History h;
  h.incr("n", 1, 0, 10);
  h.get("n", "2", 20, 30);
  EXPECT_EQ(h.verdict(), Verdict::not_linearizable);
}

TEST(Linearizability, RejectsAReadOfAValueNeverWritten) {
  History h;
  h.set("a", "1", 0, 10);
  h.set("a", "2", 5, never);  // Timed out: it may explain a "2", never a "7".
  h.get("a", "7", 20, 30);
  EXPECT_EQ(h.verdict(), Verdict::not_linearizable);
}

TEST(Linearizability, RejectsIncrementsOutOfRealTimeOrder) {
  History h;
  h.incr("n", 2, 0, 10, 1);
  h.incr("n", 1, 20, 30, 2);
  EXPECT_EQ(h.verdict(), Verdict::not_linearizable);
}

TEST(Linearizability, RejectsReadsThatDisagreeOnTheOrderOfConcurrentWrites) {
  History h;
  h.set("a", "x", 0, 100, 1);
  h.set("a", "y", 0, 100, 2);
  h.get("a", "y", 110, 120, 3);
  h.get("a", "x", 130, 140, 3);
  EXPECT_EQ(h.verdict(), Verdict::not_linearizable);
}

TEST(Linearizability, ChecksOtherCommands) {
  History ok;
  KeyOperation& append = ok.add(Kind::append, "s", 0, 10);
  append.argument = "ab";
  append.integer = 2;
  ok.add(Kind::strlen, "s", 20, 30).integer = 2;
  ok.add(Kind::exists, "s", 40, 50).integer = 1;
  ok.add(Kind::del, "s", 60, 70).integer = 1;
  ok.add(Kind::exists, "s", 80, 90).integer = 0;
  EXPECT_EQ(ok.verdict(), Verdict::linearizable);

  History bad = ok;
  bad.ops[1].integer = 3;  // STRLEN of "ab" cannot be 3.
  EXPECT_EQ(bad.verdict(), Verdict::not_linearizable);

  History refused;
  refused.set("n", "text", 0, 10);
  KeyOperation& incr = refused.add(Kind::incr_by, "n", 20, 30);
  incr.delta = 1;
  incr.error = true;
  refused.get("n", "text", 40, 50);
  EXPECT_EQ(refused.verdict(), Verdict::linearizable);
  refused.ops[1].error = false;
  refused.ops[1].integer = 1;  // Claimed success on a non-integer.
  EXPECT_EQ(refused.verdict(), Verdict::not_linearizable);
}

TEST(Linearizability, ReportsTheOffendingKeyAndASmallestWindow) {
  History h;
  for (int i = 0; i < 20; i++) {
    h.set("fine", std::to_string(i), 100 * i, 100 * i + 10);
    h.get("fine", std::to_string(i), 100 * i + 20, 100 * i + 30, 2);
    h.set("k", "v" + std::to_string(i), 100 * i + 40, 100 * i + 50);
  }
  h.get("k", "v3", 5000, 5010, 3);  // Stale: v19 was written long before.
  const LinearizabilityResult result = check_linearizability(h.ops);
  ASSERT_EQ(result.verdict, Verdict::not_linearizable);
  EXPECT_EQ(result.key, "k");
  // Whatever 'k' held before, a read that began after SET v19 completed cannot see v3.
  ASSERT_EQ(result.window.size(), 2u) << result.report;
  EXPECT_EQ(result.window[0].kind, Kind::set);
  EXPECT_EQ(result.window[0].argument, "v19");
  EXPECT_EQ(result.window[1].value, "v3");
  EXPECT_NE(result.report.find("GET 'k' -> 'v3'"), std::string::npos) << result.report;
  EXPECT_NE(window_html(result).find("<html>"), std::string::npos);
}

TEST(Linearizability, RunningOutOfBudgetIsUnknownNeverPass) {
  History h;
  for (uint32_t client = 0; client < 12; client++) h.incr("n", client + 1, 0, 1000, client);
  LinearizabilityLimits tiny;
  tiny.steps_max = 5;
  const LinearizabilityResult result = check_linearizability(h.ops, tiny);
  EXPECT_EQ(result.verdict, Verdict::unknown);
  EXPECT_EQ(result.key, "n");
  EXPECT_EQ(h.verdict(), Verdict::linearizable);  // With its budget it finds the order.
}

// A history from a real sequential execution, with each operation's interval stretched around
// its point of effect and some outcomes hidden, is always linearizable.
RC_GTEST_PROP(LinearizabilityProperty, RealExecutionsAreAccepted, ()) {
  kv::StateMachine machine;
  std::vector<KeyOperation> history;
  const int count = *rc::gen::inRange(1, 40);
  for (int i = 0; i < count; i++) {
    KeyOperation op;
    op.id = i;
    op.client = *rc::gen::inRange(0, 4);
    op.key = *rc::gen::elementOf(std::vector<std::string>{"a", "b"});
    const uint64_t point = 100 * (i + 2);
    op.invoke_ns = point - *rc::gen::inRange<uint64_t>(0, 150);
    op.complete_ns = point + *rc::gen::inRange<uint64_t>(0, 150);
    const bool hidden = *rc::gen::inRange(0, 5) == 0;
    const bool applied = !hidden || *rc::gen::arbitrary<bool>();
    kv::proto::Command command;
    switch (*rc::gen::inRange(0, 5)) {
      case 0:
        op.kind = Kind::set;
        op.argument = *rc::gen::elementOf(std::vector<std::string>{"1", "2", "x"});
        command.mutable_set()->set_key(op.key);
        command.mutable_set()->set_value(op.argument);
        break;
      case 1:
        op.kind = Kind::get;
        command.set_get(op.key);
        break;
      case 2:
        op.kind = Kind::incr_by;
        op.delta = *rc::gen::inRange<int64_t>(-2, 3);
        command.mutable_incr_by()->set_key(op.key);
        command.mutable_incr_by()->set_delta(op.delta);
        break;
      case 3:
        op.kind = Kind::append;
        op.argument = "z";
        command.mutable_append()->set_key(op.key);
        command.mutable_append()->set_value(op.argument);
        break;
      default:
        op.kind = Kind::del;
        command.mutable_del()->add_keys(op.key);
        break;
    }
    if (applied) {
      const kv::proto::Result result = machine.apply(command);
      op.found = result.has_value() && result.value().found();
      op.value = result.has_value() ? result.value().value() : "";
      op.integer = result.has_integer() ? result.integer() : 0;
      op.error = result.has_error();
    }
    if (hidden) op.complete_ns = never;
    history.push_back(op);
  }
  const LinearizabilityResult result = check_linearizability(history);
  RC_ASSERT(result.verdict == Verdict::linearizable);
}

}  // namespace
}  // namespace keel::sim
