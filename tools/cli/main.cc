// keel: the command-line entry point.

#include <fmt/format.h>

#include <cstdio>
#include <exception>
#include <filesystem>
#include <string>
#include <vector>

#include "tools/cli/args.h"
#include "tools/cli/commands.h"
#include "tools/cli/protocols.h"

namespace {

void print_usage(std::FILE* out) {
  fmt::print(
      out,
      "usage:\n"
      "  keel sim --seed N [--protocol P] [--replicas R] [--requests K] [--bug NAME]\n"
      "           [--calm] [--trace FILE] [--json] [--check-determinism]\n"
      "  keel replay FILE [--json]\n"
      "  keel sweep (--seeds A..B | --seeds-file FILE) [--jobs J] [--out DIR]\n"
      "           [--check-determinism] [--protocol P] [--replicas R] [--requests K]\n"
      "           [--bug NAME] [--calm] [--seed-timeout-ms MS]\n"
      "  keel format --cluster ID --replica I --replica-count N [--wal-slots N]\n"
      "           [--message-size-max BYTES] [--snapshot-size-max BYTES]\n"
      "           [--checkpoint-interval N] [--checkpoint-retention N] [--recover]\n"
      "           (PATH | --data-dir DIR)\n"
      "  keel dump-superblock (PATH | --data-dir DIR)\n"
      "  keel verify-superblock (PATH | --data-dir DIR)\n"
      "  keel verify-log (PATH | --data-dir DIR)\n"
      "  keel start --config FILE [--set SECTION.KEY=VALUE]... [--io uring|epoll|auto]\n"
      "           [--replica-id I]      runs one replica until SIGTERM or SIGINT\n"
      "  keel client --addresses A,B,C [--cluster ID] [--io uring|epoll|auto] COMMAND...\n"
      "           COMMAND: set K V | get K | del K... | exists K... | incr K | incrby K N |\n"
      "                    mset K V... | mget K... | append K V | strlen K\n"
      "  keel load --addresses A,B,C [--cluster ID] [--io B] [--sessions S]\n"
      "           (--ops N | --duration-s S) [--value-size-bytes B] [--key-prefix P]\n"
      "           [--acked-file F]\n"
      "  keel load --addresses A,B,C [--cluster ID] --verify-file F\n"
      "  keel help\n"
      "\n"
      "protocols:\n{}"
      "\n"
      "exit codes: 0 pass, 1 correctness violation, 2 usage or environment error (bad\n"
      "            flags, unwritable files), 3 liveness violation,\n"
      "            4 crash or assertion, 5 trace divergence (replay or determinism check)\n"
      "            data file tools: 0 clean, 1 damage found (or no superblock), 2 usage or\n"
      "            environment error (missing, locked or wrong-size file, existing path)\n"
      "docs: docs/simulation.md, docs/operations.md, docs/vsr.md (\"Storage\", \"Data file "
      "tools\")\n",
      keel::cli::protocol_help());
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  if (args.empty()) {
    print_usage(stderr);
    return keel::cli::exit_usage;
  }
  const std::string command = args.front();
  args.erase(args.begin());
  try {
    if (command == "sim") return keel::cli::sim_command(args);
    if (command == "replay") return keel::cli::replay_command(args);
    if (command == "sweep") return keel::cli::sweep_command(args);
    if (command == "format") return keel::cli::format_command(args);
    if (command == "dump-superblock") return keel::cli::dump_superblock_command(args);
    if (command == "verify-superblock") return keel::cli::verify_superblock_command(args);
    if (command == "verify-log") return keel::cli::verify_log_command(args);
    if (command == "start") return keel::cli::start_command(args);
    if (command == "client") return keel::cli::client_command(args);
    if (command == "load") return keel::cli::load_command(args);
    if (command == "help" || command == "--help" || command == "-h") {
      print_usage(stdout);
      return 0;
    }
    throw keel::cli::UsageError(fmt::format("unknown command '{}'", command));
  } catch (const keel::cli::UsageError& error) {
    fmt::print(stderr, "keel: {}\n", error.what());
    print_usage(stderr);
    return keel::cli::exit_usage;
  } catch (const keel::cli::EnvironmentError& error) {
    fmt::print(stderr, "keel: {}\n", error.what());
    return keel::cli::exit_usage;
  } catch (const std::filesystem::filesystem_error& error) {
    fmt::print(stderr, "keel: {}\n", error.what());
    return keel::cli::exit_usage;
  } catch (const std::exception& error) {
    fmt::print(stderr, "keel: unexpected error: {}\n", error.what());
    return 4;
  }
}
