#pragma once

#include <string>
#include <vector>

namespace keel::cli {

// Each returns the process exit code; a UsageError escapes to main.
int sim_command(const std::vector<std::string>& args);
int replay_command(const std::vector<std::string>& args);
int sweep_command(const std::vector<std::string>& args);
// The data file (docs/vsr.md, "Storage"): format creates it; the others only read it.
int format_command(const std::vector<std::string>& args);
int dump_superblock_command(const std::vector<std::string>& args);
int verify_superblock_command(const std::vector<std::string>& args);
int verify_log_command(const std::vector<std::string>& args);
int start_command(const std::vector<std::string>& args);
int client_command(const std::vector<std::string>& args);
int load_command(const std::vector<std::string>& args);

// Throws UsageError if `keel sim` would reject these arguments.
void check_sim_args(const std::vector<std::string>& args);

// Runs argv as a child process with stdout and stderr to log_path (or inherited if empty) and
// returns its exit code, or 128 + signal if a signal ended it.
int run_child(const std::vector<std::string>& argv, const std::string& log_path);
std::string self_executable();

}  // namespace keel::cli
