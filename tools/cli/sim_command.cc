// `keel sim` and `keel replay`.

#include <fmt/format.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>

#include "sim/simulator.h"
#include "tools/cli/args.h"
#include "tools/cli/commands.h"
#include "tools/cli/protocols.h"

namespace keel::cli {
namespace {

struct SimArgs {
  sim::SimOptions options;
  bool seed_given = false;
  std::string protocol{protocol_default};
  std::string bug = "none";
  std::string trace_path;
  bool json = false;
  bool check_determinism = false;
  bool inject_nondeterminism = false;
  std::vector<std::string> run_args;  // what the trace header keeps to re-execute the run
};

SimArgs parse_sim_args(const std::vector<std::string>& args) {
  SimArgs parsed;
  ArgReader reader(args);
  while (!reader.done()) {
    const std::string flag = reader.next();
    if (flag == "--seed") {
      const std::string value = reader.value(flag);
      parsed.options.seed = parse_u64(flag, value, 0, UINT64_MAX);
      parsed.seed_given = true;
      parsed.run_args.insert(parsed.run_args.end(), {flag, value});
    } else if (flag == "--protocol") {
      parsed.protocol = reader.value(flag);
      parsed.run_args.insert(parsed.run_args.end(), {flag, parsed.protocol});
    } else if (flag == "--replicas") {
      const std::string value = reader.value(flag);
      parsed.options.replicas = static_cast<uint32_t>(parse_u64(flag, value, 1, 6));
      parsed.run_args.insert(parsed.run_args.end(), {flag, value});
    } else if (flag == "--requests") {
      const std::string value = reader.value(flag);
      parsed.options.requests = parse_u64(flag, value, 1, 10'000'000);
      parsed.run_args.insert(parsed.run_args.end(), {flag, value});
    } else if (flag == "--bug") {
      parsed.bug = reader.value(flag);
      parsed.run_args.insert(parsed.run_args.end(), {flag, parsed.bug});
    } else if (flag == "--calm") {
      reader.no_value(flag);
      parsed.options.swarm = false;
      parsed.run_args.push_back(flag);
    } else if (flag == "--trace") {
      parsed.trace_path = reader.value(flag);
    } else if (flag == "--json") {
      reader.no_value(flag);
      parsed.json = true;
    } else if (flag == "--check-determinism") {
      reader.no_value(flag);
      parsed.check_determinism = true;
    } else if (flag == "--inject-nondeterminism") {
      reader.no_value(flag);
      // Only for testing the determinism check: each process draws a different salt.
      parsed.inject_nondeterminism = true;
    } else {
      throw UsageError(fmt::format("unknown flag '{}'", flag));
    }
  }
  if (!parsed.seed_given) throw UsageError("--seed is required");
  return parsed;
}

std::string json_escape(std::string_view text) {
  std::string out;
  for (char c : text) {
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      default:
        if (static_cast<unsigned char>(c) < 0x20)
          out += fmt::format("\\u{:04x}", c);
        else
          out += c;
    }
  }
  return out;
}

std::string json_counts(const std::vector<std::pair<std::string, uint64_t>>& counts) {
  std::string out = "{";
  for (size_t i = 0; i < counts.size(); i++) {
    out += fmt::format("{}\"{}\":{}", i == 0 ? "" : ",", counts[i].first, counts[i].second);
  }
  return out + "}";
}

std::vector<std::pair<std::string, uint64_t>> fault_counts(const sim::FaultCounts& faults) {
  std::vector<std::pair<std::string, uint64_t>> counts;
  for (size_t kind = 0; kind < sim::fault_kind_count; kind++) {
    counts.emplace_back(std::string(sim::fault_kind_name(static_cast<sim::FaultKind>(kind))),
                        faults[kind]);
  }
  return counts;
}

void print_summary(const SimArgs& args, const sim::RunSummary& summary, uint64_t wall_ns) {
  const double speedup = wall_ns == 0 ? 0.0 : static_cast<double>(summary.simulated_ns) / wall_ns;
  fmt::print("result: {} (exit {}){}{}\n", sim::run_result_name(summary.result),
             static_cast<int>(summary.result), summary.message.empty() ? "" : ": ",
             summary.message);
  fmt::print(
      "events={} simulated={:.3f}s wall={:.3f}s speedup={:.0f}x requests_completed={} "
      "requests_timed_out={} frames_rejected={} trace_hash={:016x}\n",
      summary.events, summary.simulated_ns / 1e9, wall_ns / 1e9, speedup,
      summary.requests_completed, summary.requests_timed_out, summary.frames_rejected,
      summary.trace_hash);
  std::string faults;
  for (const auto& [name, count] : fault_counts(summary.faults)) {
    if (count > 0) faults += fmt::format(" {}={}", name, count);
  }
  fmt::print("faults:{}\n", faults.empty() ? " none" : faults);
  if (summary.safety_phase_timed_out) {
    fmt::print(
        "note: the safety phase reached its limit of {} simulated seconds before all {} "
        "requests were done\n",
        args.options.safety_time_max_ns / io::ns_per_s, args.options.requests);
  }
  std::string counters;
  for (const auto& [name, count] : summary.protocol_counters)
    counters += fmt::format(" {}={}", name, count);
  fmt::print("protocol:{}\n", counters);
  if (args.json) {
    fmt::print(
        "{{\"seed\":{},\"protocol\":\"{}\",\"replicas\":{},\"clients\":{},\"result\":\"{}\","
        "\"exit_code\":{},\"message\":\"{}\",\"events\":{},\"simulated_ns\":{},\"wall_ns\":{},"
        "\"speedup\":{:.1f},\"requests_completed\":{},\"requests_timed_out\":{},"
        "\"frames_rejected\":{},\"faults\":{},\"checks\":{},\"protocol_counters\":{},"
        "\"trace_records\":{},\"trace_hash\":\"{:016x}\"}}\n",
        args.options.seed, args.protocol, summary.profile.replicas, summary.profile.clients,
        sim::run_result_name(summary.result), static_cast<int>(summary.result),
        json_escape(summary.message), summary.events, summary.simulated_ns, wall_ns, speedup,
        summary.requests_completed, summary.requests_timed_out, summary.frames_rejected,
        json_counts(fault_counts(summary.faults)), json_counts(summary.checks),
        json_counts(summary.protocol_counters), summary.trace_records, summary.trace_hash);
  }
  std::fflush(stdout);
}

uint64_t wall_now_ns() {
  return static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                   std::chrono::steady_clock::now().time_since_epoch())
                                   .count());
}

void print_divergence(const sim::TraceDivergence& divergence, std::string_view left,
                      std::string_view right) {
  const auto show = [](const std::optional<sim::TraceRecord>& record) {
    return record ? sim::format_record(*record) : std::string("(trace ended)");
  };
  fmt::print("first divergence at record {}:\n  {:<10} {}\n  {:<10} {}\n", divergence.index, left,
             show(divergence.expected), right, show(divergence.actual));
}

// Runs one simulation in this process. When verifying, checks every record against the
// recorded trace and the verdict against the recorded footer.
int run_simulation(const SimArgs& args, const std::string& verify_path) {
  std::unique_ptr<sim::ProtocolUnderTest> protocol = make_protocol(args.protocol, args.bug);
  sim::SimOptions options = args.options;
  if (args.inject_nondeterminism) options.nondeterminism_salt = static_cast<uint64_t>(getpid());

  sim::Trace trace;
  sim::proto::TraceHeader header;
  header.set_format_version(1);
  for (const std::string& arg : args.run_args) header.add_args(arg);
  header.set_seed(options.seed);
  header.set_protocol(args.protocol);
  std::string error;
  if (!verify_path.empty()) {
    sim::proto::TraceHeader recorded;
    if (!trace.verify_against(verify_path, recorded, error)) {
      fmt::print(stderr, "keel: {}\n", error);
      return exit_usage;
    }
  }
  sim::Simulator simulator(*protocol, options, trace);
  header.set_profile(simulator.profile().describe());
  if (!args.trace_path.empty() && !trace.write_to(args.trace_path, header, error)) {
    fmt::print(stderr, "keel: {}\n", error);
    return exit_usage;
  }
  fmt::print("keel sim: seed={} protocol={}{}\nprofile: {}\n", options.seed, args.protocol,
             args.bug == "none" ? "" : fmt::format(" bug={}", args.bug),
             simulator.profile().describe());
  std::fflush(stdout);

  const uint64_t wall_start_ns = wall_now_ns();
  // The verdict, printed the same way whether the run ended or an assertion cut it short.
  auto report = [&](const sim::RunSummary& summary) -> int {
    sim::proto::TraceFooter footer;
    footer.set_result(std::string(sim::run_result_name(summary.result)));
    footer.set_exit_code(static_cast<int>(summary.result));
    footer.set_message(summary.message);
    const std::optional<sim::proto::TraceFooter> recorded = trace.finish(footer);
    print_summary(args, summary, wall_now_ns() - wall_start_ns);
    if (trace.write_failed()) {
      fmt::print(stderr, "keel: writing the trace to {} failed (disk full?); it is incomplete\n",
                 args.trace_path);
      return exit_usage;
    }
    if (verify_path.empty()) return static_cast<int>(summary.result);
    if (trace.divergence()) {
      fmt::print("replay: FAILED, the run did not repeat the recorded trace\n");
      print_divergence(*trace.divergence(), "recorded", "replayed");
      return static_cast<int>(sim::RunResult::trace_divergence);
    }
    if (!recorded) {
      fmt::print("replay: {} records matched; the recorded run had no verdict (it was cut off)\n",
                 trace.records());
      return static_cast<int>(summary.result);
    }
    if (recorded->result() != footer.result() || recorded->message() != footer.message()) {
      fmt::print("replay: FAILED, recorded verdict '{}: {}' but replayed '{}: {}'\n",
                 recorded->result(), recorded->message(), footer.result(), footer.message());
      return static_cast<int>(sim::RunResult::trace_divergence);
    }
    if (recorded->records() != trace.records() || recorded->trace_hash() != trace.hash()) {
      fmt::print(
          "replay: FAILED, the footer records {} records with hash {:016x}, the replay "
          "{} with hash {:016x} (a damaged footer?)\n",
          recorded->records(), recorded->trace_hash(), trace.records(), trace.hash());
      return static_cast<int>(sim::RunResult::trace_divergence);
    }
    fmt::print("replay: all {} records matched; reproduced verdict {}{}{}\n", trace.records(),
               recorded->result(), recorded->message().empty() ? "" : ": ", recorded->message());
    return static_cast<int>(summary.result);
  };
  const sim::RunSummary summary =
      simulator.run([&](const sim::RunSummary& crashed) { return report(crashed); });
  return report(summary);
}

// A temporary folder removed however the function that owns it returns.
struct TemporaryFolder {
  std::filesystem::path path;
  TemporaryFolder()
      : path(std::filesystem::temp_directory_path() /
             fmt::format("keel-determinism-{}", getpid())) {
    std::filesystem::create_directories(path);
  }
  ~TemporaryFolder() {
    std::error_code ignored;
    std::filesystem::remove_all(path, ignored);
  }
};

int check_determinism(const SimArgs& args) {
  const TemporaryFolder folder;
  const std::string traces[2] = {(folder.path / "first.trace").string(),
                                 (folder.path / "second.trace").string()};
  int exit_codes[2];
  for (int run = 0; run < 2; run++) {
    std::vector<std::string> argv = {self_executable(), "sim"};
    argv.insert(argv.end(), args.run_args.begin(), args.run_args.end());
    argv.insert(argv.end(), {"--trace", traces[run]});
    if (args.json) argv.push_back("--json");
    if (args.inject_nondeterminism) argv.push_back("--inject-nondeterminism");
    exit_codes[run] = run_child(argv, (folder.path / fmt::format("run{}.log", run)).string());
  }
  // The first run's own output, its JSON line held back so that it can stay the last line.
  std::ifstream log(folder.path / "run0.log");
  std::string line, json;
  while (std::getline(log, line)) {
    if (args.json && line.starts_with("{")) {
      json = line;
    } else {
      fmt::print("{}\n", line);
    }
  }

  sim::TraceFile files[2];
  std::string error;
  for (int run = 0; run < 2; run++) {
    if (!read_trace_file(traces[run], files[run], error)) {
      fmt::print(stderr, "keel: determinism check: {}\n", error);
      return static_cast<int>(sim::RunResult::trace_divergence);
    }
  }
  const auto& a = files[0].records;
  const auto& b = files[1].records;
  size_t index = 0;
  while (index < a.size() && index < b.size() && a[index] == b[index]) index++;
  int exit_code = exit_codes[0];
  const bool same = index == a.size() && index == b.size() && exit_codes[0] == exit_codes[1];
  if (!same) {
    fmt::print("determinism: FAILED for seed {} (exit codes {} and {})\n", args.options.seed,
               exit_codes[0], exit_codes[1]);
    sim::TraceDivergence divergence;
    divergence.index = index;
    if (index < a.size()) divergence.expected = a[index];
    if (index < b.size()) divergence.actual = b[index];
    print_divergence(divergence, "first run", "second run");
    exit_code = static_cast<int>(sim::RunResult::trace_divergence);
  } else {
    fmt::print("determinism: ok, two processes recorded the same {} records\n", a.size());
  }
  if (!json.empty()) {
    json.pop_back();  // the closing brace
    fmt::print("{},\"determinism\":\"{}\"}}\n", json, same ? "ok" : "failed");
  }
  if (!args.trace_path.empty()) {
    std::error_code copy_error;
    std::filesystem::copy_file(traces[0], args.trace_path,
                               std::filesystem::copy_options::overwrite_existing, copy_error);
    if (copy_error) {
      fmt::print(stderr, "keel: cannot write trace file {}: {}\n", args.trace_path,
                 copy_error.message());
      return exit_usage;
    }
  }
  return exit_code;
}

// Fails early, with one line, if the trace file cannot be written.
void check_trace_path(const std::string& path) {
  if (path.empty()) return;
  std::ofstream probe(path, std::ios::binary | std::ios::app);
  if (!probe) throw UsageError(fmt::format("--trace: cannot write {}", path));
}

}  // namespace

void check_sim_args(const std::vector<std::string>& args) {
  const SimArgs parsed = parse_sim_args(args);
  make_protocol(parsed.protocol, parsed.bug);
}

int sim_command(const std::vector<std::string>& args) {
  const SimArgs parsed = parse_sim_args(args);
  make_protocol(parsed.protocol, parsed.bug);  // Reject bad names before anything runs.
  check_trace_path(parsed.trace_path);
  if (parsed.check_determinism) return check_determinism(parsed);
  return run_simulation(parsed, "");
}

int replay_command(const std::vector<std::string>& args) {
  std::string path;
  bool json = false;
  ArgReader reader(args);
  while (!reader.done()) {
    const std::string arg = reader.next();
    if (arg == "--json") {
      reader.no_value(arg);
      json = true;
    } else if (arg.starts_with("-")) {
      throw UsageError(fmt::format("unknown flag '{}'", arg));
    } else if (path.empty()) {
      path = arg;
    } else {
      throw UsageError(fmt::format("replay takes one trace file, got '{}' too", arg));
    }
  }
  if (path.empty()) throw UsageError("replay needs a trace file");
  std::string error;
  sim::Trace probe;
  sim::proto::TraceHeader header;
  if (!probe.verify_against(path, header, error)) {
    fmt::print(stderr, "keel: {}\n", error);
    return exit_usage;
  }
  std::vector<std::string> run_args(header.args().begin(), header.args().end());
  SimArgs parsed;
  try {
    parsed = parse_sim_args(run_args);
  } catch (const UsageError& error) {
    throw EnvironmentError(
        fmt::format("{}: its recorded flags are not valid: {}", path, error.what()));
  }
  // A header holds only the flags that shape a run; anything else (an output file, say) was
  // not written by keel and is not obeyed.
  if (parsed.run_args != run_args || !parsed.trace_path.empty() || parsed.json ||
      parsed.check_determinism || parsed.inject_nondeterminism) {
    throw EnvironmentError(fmt::format("{}: its header holds flags a recorded run never has: {}",
                                       path, fmt::join(run_args, " ")));
  }
  parsed.json = json;
  fmt::print("keel replay: {} (recorded with: keel sim {})\n", path, fmt::join(run_args, " "));
  return run_simulation(parsed, path);
}

}  // namespace keel::cli
