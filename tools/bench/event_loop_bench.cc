// Benchmarks of the simulator's event loop. Run: build/release/tools/bench/bench_event_loop
// Target (issue 2): the bare loop schedules and runs at least 5 million events per second.

#include <benchmark/benchmark.h>

#include "sim/event_loop.h"
#include "sim/trace.h"
#include "sim/world.h"

namespace {

// A steady state of `pending` outstanding events: each event run schedules one more, at a
// random future time, the way timers and deliveries keep a simulation's queue full.
void BM_EventLoopScheduleRun(benchmark::State& state) {
  const auto pending = static_cast<uint64_t>(state.range(0));
  keel::sim::EventLoop loop(42);
  keel::io::Random random(7);
  uint64_t ran = 0;
  struct Reschedule {
    keel::sim::EventLoop* loop;
    keel::io::Random* random;
    uint64_t* ran;
    void operator()() const {
      (*ran)++;
      loop->schedule(loop->now_ns() + 1 + random->uniform(1'000'000), {0, 1}, *this);
    }
  };
  for (uint64_t i = 0; i < pending; i++) {
    loop.schedule(random.uniform(1'000'000), {0, 1}, Reschedule{&loop, &random, &ran});
  }
  for (auto _ : state) {
    loop.run_one();
  }
  state.SetItemsProcessed(static_cast<int64_t>(ran));
}
BENCHMARK(BM_EventLoopScheduleRun)->Arg(16)->Arg(1024)->Arg(65536);

// The same, through World::step, which also hashes every scheduling decision into the trace.
void BM_WorldStepTraced(benchmark::State& state) {
  keel::sim::Trace trace;
  keel::sim::World world(42, 3, trace);
  uint64_t ran = 0;
  struct Reschedule {
    keel::sim::World* world;
    uint64_t* ran;
    void operator()() const {
      (*ran)++;
      world->loop().schedule(world->now_ns() + 1 + world->random().uniform(1'000'000), {0, 1},
                             *this);
    }
  };
  for (int i = 0; i < 1024; i++) {
    world.loop().schedule(world.random().uniform(1'000'000), {0, 1}, Reschedule{&world, &ran});
  }
  for (auto _ : state) {
    world.step(UINT64_MAX);
  }
  state.SetItemsProcessed(static_cast<int64_t>(ran));
}
BENCHMARK(BM_WorldStepTraced);

}  // namespace

BENCHMARK_MAIN();
