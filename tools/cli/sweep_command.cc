// `keel sweep`: one `keel sim` process per seed, several at once, with a progress line, the
// traces and logs of failing seeds kept, and a summary of every fault injected.

#include <fmt/format.h>
#include <google/protobuf/util/json_util.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <thread>

#include "sim/simulator.h"
#include "tools/cli/args.h"
#include "tools/cli/commands.h"
#include "tools/cli/summary.pb.h"

namespace keel::cli {

pid_t start_child(const std::vector<std::string>& argv, const std::string& log_path);
int exit_code_of(int status);

namespace {

constexpr uint64_t seeds_max = 10'000'000;

struct SweepArgs {
  std::vector<uint64_t> seeds;
  uint32_t jobs = 0;
  std::string out = "sweep-out";
  std::vector<std::string> sim_args;  // passed through to every `keel sim`
  bool check_determinism = false;
  // A seed still running after this long is killed and counted as failed: one stuck seed must
  // not stall a sweep (or CI) without a word.
  uint64_t seed_timeout_ms = 600'000;
};

void parse_seed_range(std::string_view text, std::vector<uint64_t>& seeds) {
  const size_t dots = text.find("..");
  if (dots == std::string_view::npos) {
    throw UsageError(fmt::format("--seeds: '{}' is not a range like 1..100", text));
  }
  const uint64_t first = parse_u64("--seeds", text.substr(0, dots), 0, UINT64_MAX);
  const uint64_t last = parse_u64("--seeds", text.substr(dots + 2), first, UINT64_MAX);
  if (last - first >= seeds_max)
    throw UsageError(fmt::format("--seeds: at most {} seeds", seeds_max));
  for (uint64_t seed = first;; seed++) {  // Not "seed <= last": last may be 2^64 - 1.
    seeds.push_back(seed);
    if (seed == last) break;
  }
}

void read_seeds_file(const std::string& path, std::vector<uint64_t>& seeds) {
  std::ifstream file(path);
  if (!file) throw UsageError(fmt::format("--seeds-file: cannot open {}", path));
  std::string line;
  int number = 0;
  while (std::getline(file, line)) {
    number++;
    const size_t hash = line.find('#');
    if (hash != std::string::npos) line.resize(hash);
    const size_t begin = line.find_first_not_of(" \t\r");
    if (begin == std::string::npos) continue;
    const size_t end = line.find_last_not_of(" \t\r");
    seeds.push_back(parse_u64(fmt::format("--seeds-file {}:{}", path, number),
                              line.substr(begin, end - begin + 1), 0, UINT64_MAX));
  }
}

SweepArgs parse_sweep_args(const std::vector<std::string>& args) {
  SweepArgs parsed;
  bool seeds_given = false;
  ArgReader reader(args);
  while (!reader.done()) {
    const std::string flag = reader.next();
    if (flag == "--seeds") {
      parse_seed_range(reader.value(flag), parsed.seeds);
      seeds_given = true;
    } else if (flag == "--seeds-file") {
      read_seeds_file(reader.value(flag), parsed.seeds);
      seeds_given = true;
    } else if (flag == "--jobs") {
      parsed.jobs = static_cast<uint32_t>(parse_u64(flag, reader.value(flag), 1, 256));
    } else if (flag == "--out") {
      parsed.out = reader.value(flag);
    } else if (flag == "--seed-timeout-ms") {
      parsed.seed_timeout_ms = parse_u64(flag, reader.value(flag), 1, 86'400'000);
    } else if (flag == "--check-determinism") {
      reader.no_value(flag);
      parsed.check_determinism = true;
    } else if (flag == "--protocol" || flag == "--replicas" || flag == "--requests" ||
               flag == "--bug") {
      parsed.sim_args.insert(parsed.sim_args.end(), {flag, reader.value(flag)});
    } else if (flag == "--calm") {
      reader.no_value(flag);
      parsed.sim_args.push_back(flag);
    } else {
      throw UsageError(fmt::format("unknown flag '{}'", flag));
    }
  }
  if (!seeds_given) throw UsageError("--seeds A..B or --seeds-file FILE is required");
  if (parsed.seeds.empty()) throw UsageError("no seeds to run");
  if (parsed.jobs == 0)
    parsed.jobs = std::max(1u, static_cast<uint32_t>(sysconf(_SC_NPROCESSORS_ONLN)));
  return parsed;
}

std::string last_line(const std::string& path) {
  std::ifstream file(path);
  std::string line, last;
  while (std::getline(file, line)) {
    if (line.starts_with("{")) last = line;
  }
  return last;
}

// Kills (once) every child that has run longer than timeout; waitpid then reaps it. (With
// --check-determinism the child's own two runs are its children: they finish on their own.)
template <typename Running>
void kill_overdue(std::map<pid_t, Running>& running, std::chrono::steady_clock::duration timeout) {
  const auto now = std::chrono::steady_clock::now();
  for (auto& [pid, child] : running) {
    if (child.killed || now - child.started < timeout) continue;
    kill(pid, SIGKILL);
    child.killed = true;
  }
}

double wall_seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

}  // namespace

int sweep_command(const std::vector<std::string>& args) {
  const SweepArgs parsed = parse_sweep_args(args);
  std::vector<std::string> probe = {"--seed", "0"};
  probe.insert(probe.end(), parsed.sim_args.begin(), parsed.sim_args.end());
  check_sim_args(probe);  // Bad pass-through flags fail once, up front, not once per seed.
  std::error_code error;
  std::filesystem::create_directories(parsed.out, error);
  const std::string probe_path = (std::filesystem::path(parsed.out) / ".keel-sweep-probe").string();
  if (error || !std::ofstream(probe_path)) {
    throw UsageError(fmt::format("--out: cannot write into {}{}", parsed.out,
                                 error ? ": " + error.message() : ""));
  }
  std::filesystem::remove(probe_path, error);
  const auto start = std::chrono::steady_clock::now();
  const std::string exe = self_executable();
  struct Running {
    uint64_t seed;
    std::chrono::steady_clock::time_point started;
    bool killed = false;
  };
  std::map<pid_t, Running> running;
  const auto seed_timeout = std::chrono::milliseconds(parsed.seed_timeout_ms);
  size_t next = 0, done = 0;
  std::vector<std::pair<uint64_t, std::string>> failures;
  std::map<std::string, int64_t> faults, counters;
  int64_t events = 0, simulated_ns = 0, requests = 0;
  auto last_progress = std::chrono::steady_clock::now() - std::chrono::seconds(10);
  const auto path_of = [&](uint64_t seed, std::string_view ext) {
    return (std::filesystem::path(parsed.out) / fmt::format("seed-{}.{}", seed, ext)).string();
  };

  fmt::print(stderr, "sweep: {} seeds, {} jobs, failures kept in {}\n", parsed.seeds.size(),
             parsed.jobs, parsed.out);
  while (done < parsed.seeds.size()) {
    while (running.size() < parsed.jobs && next < parsed.seeds.size()) {
      const uint64_t seed = parsed.seeds[next++];
      std::vector<std::string> argv = {exe, "sim", "--seed", std::to_string(seed)};
      argv.insert(argv.end(), parsed.sim_args.begin(), parsed.sim_args.end());
      argv.insert(argv.end(), {"--json", "--trace", path_of(seed, "trace")});
      if (parsed.check_determinism) argv.push_back("--check-determinism");
      running[start_child(argv, path_of(seed, "log"))] =
          Running{seed, std::chrono::steady_clock::now()};
    }
    int status = 0;
    const pid_t pid = waitpid(-1, &status, WNOHANG);
    if (pid <= 0) {
      kill_overdue(running, seed_timeout);
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
      continue;
    }
    const auto found = running.find(pid);
    if (found == running.end()) continue;
    const uint64_t seed = found->second.seed;
    const bool timed_out = found->second.killed;
    running.erase(found);
    done++;
    const int exit_code = exit_code_of(status);
    proto::SimSummary summary;
    google::protobuf::util::JsonParseOptions options;
    options.ignore_unknown_fields = true;
    const bool parsed_json = google::protobuf::util::JsonStringToMessage(
                                 last_line(path_of(seed, "log")), &summary, options)
                                 .ok();
    if (parsed_json) {
      for (const auto& [name, count] : summary.faults()) faults[name] += count;
      for (const auto& [name, count] : summary.protocol_counters()) counters[name] += count;
      events += summary.events();
      simulated_ns += summary.simulated_ns();
      requests += summary.requests_completed();
    }
    if (exit_code != 0 || !parsed_json || timed_out) {
      const std::string verdict = timed_out
                                      ? fmt::format("timed out after {} ms", parsed.seed_timeout_ms)
                                  : parsed_json ? summary.result()
                                                : fmt::format("exit {}", exit_code);
      failures.emplace_back(seed, verdict);
      fmt::print(stderr, "sweep: seed {} FAILED ({}): keel replay {}  (log: {})\n", seed, verdict,
                 path_of(seed, "trace"), path_of(seed, "log"));
    } else {
      std::filesystem::remove(path_of(seed, "trace"), error);
      std::filesystem::remove(path_of(seed, "log"), error);
    }
    const bool last = done == parsed.seeds.size();
    if (last || std::chrono::steady_clock::now() - last_progress > std::chrono::seconds(5)) {
      last_progress = std::chrono::steady_clock::now();
      const double minutes = wall_seconds_since(start) / 60.0;
      fmt::print(stderr, "sweep: {}/{} done, {} failed, {:.0f} seeds/min\n", done,
                 parsed.seeds.size(), failures.size(), minutes > 0 ? done / minutes : 0.0);
    }
  }

  fmt::print("sweep: {} seeds in {:.1f}s: {} passed, {} failed\n", parsed.seeds.size(),
             wall_seconds_since(start), parsed.seeds.size() - failures.size(), failures.size());
  fmt::print("sweep: events={} simulated={:.1f}s requests_completed={}\n", events,
             simulated_ns / 1e9, requests);
  std::string fault_line, counter_line;
  for (const auto& [name, count] : faults) fault_line += fmt::format(" {}={}", name, count);
  for (const auto& [name, count] : counters) counter_line += fmt::format(" {}={}", name, count);
  fmt::print("sweep: faults:{}\n", fault_line);
  fmt::print("sweep: protocol:{}\n", counter_line);
  if (!failures.empty()) {
    std::string seeds;
    for (const auto& [seed, verdict] : failures) seeds += fmt::format(" {}({})", seed, verdict);
    fmt::print("sweep: failing seeds:{}\n", seeds);
    return 1;
  }
  return 0;
}

}  // namespace keel::cli
