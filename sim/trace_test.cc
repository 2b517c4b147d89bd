#include "sim/trace.h"

#include <gtest/gtest.h>
#include <rapidcheck.h>
#include <rapidcheck/gtest.h>

#include <cstdint>
#include <cstdio>
#include <fstream>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "io/random.h"
#include "sim/disk.h"
#include "sim/network.h"
#include "sim/node.h"
#include "sim/simulator.h"
#include "sim/world.h"
#include "tests/fixture/counter.h"

namespace keel::sim {
namespace {

std::string temp_path(const std::string& name) {
  const ::testing::TestInfo* info = ::testing::UnitTest::GetInstance()->current_test_info();
  return ::testing::TempDir() + "keel_" + info->name() + "_" + name;
}

std::vector<TraceRecord> sample_records() {
  return {
      TraceRecord{10, static_cast<uint32_t>(TraceKind::event), 1, 5, 3},
      TraceRecord{10, static_cast<uint32_t>(TraceKind::send), 1, 2, 64},
      TraceRecord{25, static_cast<uint32_t>(TraceKind::deliver), 2, 1, 64},
      TraceRecord{30, static_cast<uint32_t>(TraceKind::fault), 3, 7, 9},
      TraceRecord{41, static_cast<uint32_t>(TraceKind::client_complete), 4, 8, 77},
  };
}

uint64_t hash_of(const std::vector<TraceRecord>& records) {
  Trace trace;
  for (const TraceRecord& record : records) trace.record(record);
  return trace.hash();
}

proto::TraceHeader sample_header() {
  proto::TraceHeader header;
  header.set_format_version(1);
  header.add_args("--seed");
  header.add_args("42");
  header.set_seed(42);
  header.set_protocol("fixture-counter");
  header.set_profile("replicas=3");
  return header;
}

// Writes records to path with sample_header() and a footer; returns the footer written.
proto::TraceFooter write_trace(const std::string& path, const std::vector<TraceRecord>& records) {
  Trace trace;
  std::string error;
  EXPECT_TRUE(trace.write_to(path, sample_header(), error)) << error;
  for (const TraceRecord& record : records) trace.record(record);
  proto::TraceFooter footer;
  footer.set_result("pass");
  footer.set_exit_code(0);
  footer.set_message("all good");
  trace.finish(footer);
  footer.set_records(records.size());
  footer.set_trace_hash(trace.hash());
  return footer;
}

TEST(Trace, CountsRecords) {
  Trace trace;
  EXPECT_EQ(trace.records(), 0u);
  for (const TraceRecord& record : sample_records()) trace.record(record);
  EXPECT_EQ(trace.records(), 5u);
}

TEST(Trace, IdenticalSequencesHashIdentically) {
  EXPECT_EQ(hash_of(sample_records()), hash_of(sample_records()));
  EXPECT_EQ(hash_of({}), hash_of({}));
}

TEST(Trace, ChangingAnyFieldOfAnyRecordChangesTheHash) {
  const std::vector<TraceRecord> base = sample_records();
  const uint64_t base_hash = hash_of(base);
  for (size_t index = 0; index < base.size(); index++) {
    for (int field = 0; field < 5; field++) {
      std::vector<TraceRecord> changed = base;
      TraceRecord& r = changed[index];
      switch (field) {
        case 0:
          r.time_ns++;
          break;
        case 1:
          r.kind++;
          break;
        case 2:
          r.node++;
          break;
        case 3:
          r.a++;
          break;
        case 4:
          r.b++;
          break;
      }
      EXPECT_NE(hash_of(changed), base_hash) << "record " << index << " field " << field;
    }
  }
}

TEST(Trace, FieldsDoNotAlias) {
  // The same numbers in different fields are different records.
  EXPECT_NE(hash_of({TraceRecord{0, 1, 2, 0, 0}}), hash_of({TraceRecord{0, 2, 1, 0, 0}}));
  EXPECT_NE(hash_of({TraceRecord{0, 0, 0, 1, 2}}), hash_of({TraceRecord{0, 0, 0, 2, 1}}));
}

TEST(Trace, OrderAndLengthChangeTheHash) {
  std::vector<TraceRecord> swapped = sample_records();
  std::swap(swapped[1], swapped[2]);
  EXPECT_NE(hash_of(swapped), hash_of(sample_records()));
  std::vector<TraceRecord> longer = sample_records();
  longer.push_back(longer.back());
  EXPECT_NE(hash_of(longer), hash_of(sample_records()));
  EXPECT_NE(hash_of({TraceRecord{}}), hash_of({}));
}

TEST(Trace, HashIsARunningHashReadableAtAnyTime) {
  Trace trace;
  const std::vector<TraceRecord> records = sample_records();
  trace.record(records[0]);
  const uint64_t after_one = trace.hash();
  EXPECT_EQ(trace.hash(), after_one);  // Reading it does not change it.
  trace.record(records[1]);
  EXPECT_NE(trace.hash(), after_one);
  EXPECT_EQ(trace.hash(), hash_of({records[0], records[1]}));
}

TEST(Trace, WriteThenReadRoundTripsHeaderRecordsAndFooter) {
  const std::string path = temp_path("trace");
  const std::vector<TraceRecord> records = sample_records();
  const proto::TraceFooter written = write_trace(path, records);

  TraceFile file;
  std::string error;
  ASSERT_TRUE(read_trace_file(path, file, error)) << error;
  EXPECT_EQ(file.header.SerializeAsString(), sample_header().SerializeAsString());
  EXPECT_EQ(file.header.seed(), 42u);
  EXPECT_EQ(file.header.protocol(), "fixture-counter");
  ASSERT_EQ(file.header.args_size(), 2);
  EXPECT_EQ(file.header.args(1), "42");
  EXPECT_EQ(file.records, records);
  ASSERT_TRUE(file.footer.has_value());
  EXPECT_EQ(file.footer->result(), "pass");
  EXPECT_EQ(file.footer->message(), "all good");
  EXPECT_EQ(file.footer->records(), records.size());
  EXPECT_EQ(file.footer->trace_hash(), hash_of(records));
  EXPECT_EQ(file.footer->trace_hash(), written.trace_hash());
  std::remove(path.c_str());
}

TEST(Trace, AnEmptyTraceRoundTrips) {
  const std::string path = temp_path("trace");
  write_trace(path, {});
  TraceFile file;
  std::string error;
  ASSERT_TRUE(read_trace_file(path, file, error)) << error;
  EXPECT_TRUE(file.records.empty());
  ASSERT_TRUE(file.footer.has_value());
  EXPECT_EQ(file.footer->records(), 0u);
  std::remove(path.c_str());
}

TEST(Trace, ATraceCutShortHasNoFooter) {
  const std::string path = temp_path("trace");
  {
    Trace trace;
    std::string error;
    ASSERT_TRUE(trace.write_to(path, sample_header(), error));
    for (const TraceRecord& record : sample_records()) trace.record(record);
    // Destroyed without finish(): a run that crashed hard.
  }
  TraceFile file;
  std::string error;
  ASSERT_TRUE(read_trace_file(path, file, error)) << error;
  EXPECT_EQ(file.records, sample_records());
  EXPECT_FALSE(file.footer.has_value());
  std::remove(path.c_str());
}

TEST(Trace, ReadingAMissingOrForeignFileFails) {
  TraceFile file;
  std::string error;
  EXPECT_FALSE(read_trace_file(temp_path("missing"), file, error));
  EXPECT_FALSE(error.empty());

  const std::string path = temp_path("foreign");
  std::ofstream(path) << "";
  error.clear();
  EXPECT_FALSE(read_trace_file(path, file, error));
  EXPECT_FALSE(error.empty());
  std::remove(path.c_str());
}

TEST(Trace, WritingToAnUnopenablePathFails) {
  Trace trace;
  std::string error;
  EXPECT_FALSE(trace.write_to(temp_path("no_such_dir") + "/trace", sample_header(), error));
  EXPECT_FALSE(error.empty());
  trace.record(sample_records()[0]);  // Still usable for hashing.
  EXPECT_EQ(trace.records(), 1u);
}

TEST(Trace, VerifyingTheSameRecordsFindsNoDivergence) {
  const std::string path = temp_path("trace");
  const proto::TraceFooter written = write_trace(path, sample_records());
  Trace trace;
  proto::TraceHeader header;
  std::string error;
  ASSERT_TRUE(trace.verify_against(path, header, error)) << error;
  EXPECT_EQ(header.seed(), 42u);
  for (const TraceRecord& record : sample_records()) trace.record(record);
  const std::optional<proto::TraceFooter> recorded = trace.finish(proto::TraceFooter());
  EXPECT_FALSE(trace.divergence().has_value());
  ASSERT_TRUE(recorded.has_value());
  EXPECT_EQ(recorded->trace_hash(), written.trace_hash());
  EXPECT_EQ(recorded->trace_hash(), trace.hash());
  std::remove(path.c_str());
}

TEST(Trace, VerifyReportsTheFirstDivergenceWithExpectedAndActual) {
  const std::string path = temp_path("trace");
  const std::vector<TraceRecord> recorded = sample_records();
  write_trace(path, recorded);
  Trace trace;
  proto::TraceHeader header;
  std::string error;
  ASSERT_TRUE(trace.verify_against(path, header, error)) << error;
  std::vector<TraceRecord> actual = recorded;
  actual[2].a = 999;
  actual[3].b = 999;  // A later difference is not the first one.
  for (size_t i = 0; i < actual.size(); i++) {
    trace.record(actual[i]);
    EXPECT_EQ(trace.divergence().has_value(), i >= 2) << "after record " << i;
  }
  trace.finish(proto::TraceFooter());
  ASSERT_TRUE(trace.divergence().has_value());
  const TraceDivergence& divergence = *trace.divergence();
  EXPECT_EQ(divergence.index, 2u);
  ASSERT_TRUE(divergence.expected.has_value());
  ASSERT_TRUE(divergence.actual.has_value());
  EXPECT_EQ(*divergence.expected, recorded[2]);
  EXPECT_EQ(*divergence.actual, actual[2]);
  std::remove(path.c_str());
}

TEST(Trace, VerifyReportsARunThatGoesOnPastTheRecordedEnd) {
  const std::string path = temp_path("trace");
  const std::vector<TraceRecord> recorded = sample_records();
  write_trace(path, recorded);
  Trace trace;
  proto::TraceHeader header;
  std::string error;
  ASSERT_TRUE(trace.verify_against(path, header, error)) << error;
  for (const TraceRecord& record : recorded) trace.record(record);
  EXPECT_FALSE(trace.divergence().has_value());
  const TraceRecord extra{50, static_cast<uint32_t>(TraceKind::check), 0, 0, 1};
  trace.record(extra);
  ASSERT_TRUE(trace.divergence().has_value());
  EXPECT_EQ(trace.divergence()->index, recorded.size());
  EXPECT_FALSE(trace.divergence()->expected.has_value());
  ASSERT_TRUE(trace.divergence()->actual.has_value());
  EXPECT_EQ(*trace.divergence()->actual, extra);
  std::remove(path.c_str());
}

TEST(Trace, VerifyReportsARunThatEndsBeforeTheRecordedEnd) {
  const std::string path = temp_path("trace");
  const std::vector<TraceRecord> recorded = sample_records();
  write_trace(path, recorded);
  Trace trace;
  proto::TraceHeader header;
  std::string error;
  ASSERT_TRUE(trace.verify_against(path, header, error)) << error;
  for (size_t i = 0; i < 3; i++) trace.record(recorded[i]);
  EXPECT_FALSE(trace.divergence().has_value());
  trace.finish(proto::TraceFooter());
  ASSERT_TRUE(trace.divergence().has_value());
  EXPECT_EQ(trace.divergence()->index, 3u);
  ASSERT_TRUE(trace.divergence()->expected.has_value());
  EXPECT_EQ(*trace.divergence()->expected, recorded[3]);
  EXPECT_FALSE(trace.divergence()->actual.has_value());
  std::remove(path.c_str());
}

TEST(Trace, VerifyingAgainstAMissingOrForeignFileFails) {
  Trace trace;
  proto::TraceHeader header;
  std::string error;
  EXPECT_FALSE(trace.verify_against(temp_path("missing"), header, error));
  EXPECT_FALSE(error.empty());

  const std::string path = temp_path("foreign");
  std::ofstream(path) << "\x05hello";
  Trace other;
  error.clear();
  EXPECT_FALSE(other.verify_against(path, header, error));
  EXPECT_FALSE(error.empty());
  std::remove(path.c_str());
}

TEST(Trace, FormatRecordNamesTheKindAndItsFields) {
  EXPECT_EQ(format_record(TraceRecord{12, static_cast<uint32_t>(TraceKind::deliver), 2, 1, 64}),
            "t=12ns deliver node=2 from=1 size=64");
  EXPECT_EQ(format_record(TraceRecord{5, static_cast<uint32_t>(TraceKind::send), 0, 3, 40}),
            "t=5ns send node=0 to=3 size=40");
  EXPECT_EQ(format_record(TraceRecord{1, 77, 4, 5, 6}), "t=1ns kind_77 node=4 a=5 b=6");
  EXPECT_EQ(trace_kind_name(static_cast<uint32_t>(TraceKind::client_invoke)), "client_invoke");
}

// A small cluster under faults: three replicas with disks and one client ping messages around
// with timers, write and sync their disks, and get paused, crashed and restarted. Everything
// they observe is logged alongside the trace.
struct Outcome {
  uint64_t hash = 0;
  uint64_t records = 0;
  uint64_t events = 0;
  uint64_t now_ns = 0;
  std::vector<uint64_t> log;
};

Outcome simulate(uint64_t seed) {
  constexpr uint32_t node_count = 4;
  constexpr uint64_t sectors = 4;
  constexpr uint64_t sector = io::BlockStorage::sector_size_bytes;
  Trace trace;
  World world(seed, 3, trace);
  NetworkProfile net;
  net.loss_probability = 0.05;
  net.duplicate_probability = 0.05;
  net.reorder_probability = 0.1;
  net.corrupt_probability = 0.02;
  net.link_capacity_messages = 6;
  DiskProfile disk;
  disk.slow_probability = 0.05;
  disk.read_corrupt_probability = 0.05;
  disk.write_corrupt_probability = 0.05;
  disk.misdirect_probability = 0.05;
  disk.latent_error_probability = 0.05;
  SimNetwork network(world, node_count, net);
  std::vector<std::unique_ptr<SimNode>> nodes;
  std::vector<SimNode*> attached;
  for (io::NodeId id = 0; id < node_count; id++) {
    const ClockSettings clock{static_cast<int64_t>(id) * 1000, static_cast<int64_t>(id) * 50};
    nodes.push_back(std::make_unique<SimNode>(world, network, id, 9, clock,
                                              id < 3 ? sectors * sector : 0, &disk));
    attached.push_back(nodes.back().get());
  }
  network.attach(attached);

  Outcome outcome;
  std::function<void(io::NodeId)> boot;
  std::function<void(io::NodeId)> tick = [&](io::NodeId id) {
    SimNode& node = *nodes[id];
    io::Random& random = node.env().random;
    const uint8_t value = static_cast<uint8_t>(random.next_u64());
    node.send(static_cast<io::NodeId>(random.uniform(node_count)), 1, std::vector<uint8_t>{value});
    if (SimDisk* d = node.disk()) {
      const uint64_t offset = random.uniform(sectors) * sector;
      d->write(offset, std::vector<uint8_t>(sector, value), [&, id](io::IoStatus status) {
        outcome.log.push_back(id * 1000 + 100 + static_cast<uint64_t>(status));
      });
      if (random.chance(0.5)) {
        d->sync([&, id](io::IoStatus) { outcome.log.push_back(id * 1000 + 200); });
      }
      auto buffer = std::make_shared<std::vector<uint8_t>>(sector);
      d->read(offset, *buffer, [&, id, buffer](io::IoStatus status) {
        outcome.log.push_back(id * 1000 + 300 + (*buffer)[0] + static_cast<uint64_t>(status));
      });
    }
    node.start(1 + random.exponential(5 * io::ns_per_ms), [&tick, id] { tick(id); });
  };
  boot = [&](io::NodeId id) {
    SimNode& node = *nodes[id];
    node.set_receiver([&, id](io::NodeId from, uint16_t kind, std::span<const uint8_t> body) {
      SimNode& self = *nodes[id];
      outcome.log.push_back(self.monotonic_ns() ^ (uint64_t{from} << 56) ^ body[0]);
      if (body[0] % 3 == 0) {
        self.send(from, kind, std::vector<uint8_t>{static_cast<uint8_t>(body[0] + 1)});
      }
    });
    node.start(0, [&tick, id] { tick(id); });
  };
  for (io::NodeId id = 0; id < node_count; id++) boot(id);

  // The nemesis: crashes with restarts, and pauses with resumes, of the replicas.
  io::Random nemesis = io::Random::derive(seed, 77);
  for (int i = 0; i < 12; i++) {
    const uint64_t at = nemesis.uniform(400 * io::ns_per_ms);
    const io::NodeId id = static_cast<io::NodeId>(nemesis.uniform(3));
    const bool crash = nemesis.chance(0.5);
    const uint64_t duration = 1 + nemesis.uniform(30 * io::ns_per_ms);
    world.loop().schedule(
        at, EventTag{id, static_cast<uint16_t>(EventKind::nemesis)}, [&, id, crash, duration] {
          SimNode& node = *nodes[id];
          if (!node.up() || node.paused()) return;
          if (crash) {
            node.crash();
          } else {
            node.pause();
          }
          world.loop().schedule(world.now_ns() + duration, EventTag{id, 0}, [&, id, crash] {
            SimNode& later = *nodes[id];
            if (crash) {
              later.restart();
              boot(id);
            } else {
              later.resume();
            }
          });
        });
  }

  while (world.step(500 * io::ns_per_ms)) {
  }
  outcome.hash = trace.hash();
  outcome.records = trace.records();
  outcome.events = world.loop().events_run();
  outcome.now_ns = world.now_ns();
  for (uint64_t count : world.faults()) outcome.log.push_back(count);
  return outcome;
}

RC_GTEST_PROP(Determinism, ForAnySeedTheSameEventsOccurInTheSameOrder, ()) {
  const uint64_t seed = *rc::gen::arbitrary<uint64_t>();
  const Outcome first = simulate(seed);
  const Outcome second = simulate(seed);
  RC_ASSERT(first.records > 100u);  // The run did something worth comparing.
  RC_ASSERT(first.hash == second.hash);
  RC_ASSERT(first.records == second.records);
  RC_ASSERT(first.events == second.events);
  RC_ASSERT(first.now_ns == second.now_ns);
  RC_ASSERT(first.log == second.log);
}

TEST(Determinism, DifferentSeedsGiveDifferentTraces) {
  // Guards the property above: the trace hash does tell runs apart.
  const Outcome a = simulate(1);
  const Outcome b = simulate(2);
  EXPECT_NE(a.hash, b.hash);
  EXPECT_NE(a.log, b.log);
}

TEST(Determinism, TheNemesisAndFaultsActuallyFire) {
  const Outcome outcome = simulate(3);
  // The fault counters are the last fault_kind_count entries of the log.
  ASSERT_GE(outcome.log.size(), fault_kind_count);
  const uint64_t* faults = outcome.log.data() + outcome.log.size() - fault_kind_count;
  EXPECT_GT(faults[static_cast<size_t>(FaultKind::net_loss)], 0u);
  EXPECT_GT(faults[static_cast<size_t>(FaultKind::net_duplicate)], 0u);
  EXPECT_GT(faults[static_cast<size_t>(FaultKind::disk_slow)], 0u);
}

// The whole simulator, on the counter fixture with the seed's swarm profile (faults, nemesis).
RunSummary run_counter(uint64_t seed, uint64_t salt = 0) {
  fixture::CounterProtocol protocol(fixture::CounterBug::none);
  SimOptions options;
  options.seed = seed;
  options.requests = 20;
  options.nondeterminism_salt = salt;
  Trace trace;
  Simulator simulator(protocol, options, trace);
  return simulator.run(nullptr);
}

RC_GTEST_PROP(Determinism, ForAnySeedTheSimulatorRepeatsTheSameTrace, ()) {
  const uint64_t seed = *rc::gen::arbitrary<uint64_t>();
  const RunSummary first = run_counter(seed);
  const RunSummary second = run_counter(seed);
  RC_ASSERT(first.trace_records > 0u);
  RC_ASSERT(first.trace_hash == second.trace_hash);
  RC_ASSERT(first.trace_records == second.trace_records);
  RC_ASSERT(first.events == second.events);
  RC_ASSERT(first.simulated_ns == second.simulated_ns);
  RC_ASSERT(first.result == second.result);
  RC_ASSERT(first.faults == second.faults);
  RC_ASSERT(first.requests_completed == second.requests_completed);
}

TEST(Determinism, InjectedNondeterminismChangesTheSimulatorTrace) {
  // Guards the property above: a run that differs at all shows in the trace hash.
  const RunSummary plain = run_counter(5);
  const RunSummary salted = run_counter(5, 1);
  EXPECT_NE(plain.trace_hash, salted.trace_hash);
}

// Parsing merges into a message and proto3 leaves zero fields off the wire: a reader that reuses
// one message would give a zero field the previous record's value.
TEST(Trace, ReadTraceFileRoundTripsRecordsWithZeroFields) {
  const std::string path = temp_path("trace");
  const std::vector<TraceRecord> records = {
      TraceRecord{10, static_cast<uint32_t>(TraceKind::send), 1, 2, 64},
      TraceRecord{11, static_cast<uint32_t>(TraceKind::send), 0, 0, 0}};
  write_trace(path, records);
  TraceFile file;
  std::string error;
  ASSERT_TRUE(read_trace_file(path, file, error)) << error;
  ASSERT_EQ(file.records.size(), 2u);
  EXPECT_EQ(file.records[1], records[1]) << format_record(file.records[1]);
  std::remove(path.c_str());
}

}  // namespace
}  // namespace keel::sim
