// Child processes for `keel sim --check-determinism` and `keel sweep`.

#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <stdexcept>

#include "tools/cli/args.h"
#include "tools/cli/commands.h"

extern char** environ;

namespace keel::cli {

std::string self_executable() { return std::filesystem::read_symlink("/proc/self/exe").string(); }

namespace {

pid_t spawn_child(const std::vector<std::string>& argv, const std::string& log_path) {
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  if (!log_path.empty()) {
    posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, log_path.c_str(),
                                     O_WRONLY | O_CREAT | O_TRUNC, 0644);
    posix_spawn_file_actions_adddup2(&actions, STDOUT_FILENO, STDERR_FILENO);
  }
  std::vector<char*> pointers;
  for (const std::string& arg : argv) pointers.push_back(const_cast<char*>(arg.c_str()));
  pointers.push_back(nullptr);
  pid_t pid = 0;
  const int error = posix_spawn(&pid, argv[0].c_str(), &actions, nullptr, pointers.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  if (error != 0) {
    throw EnvironmentError("cannot start " + argv[0] + ": " + std::strerror(error));
  }
  return pid;
}

}  // namespace

int exit_code_of(int status) {
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return 255;
}

int run_child(const std::vector<std::string>& argv, const std::string& log_path) {
  const pid_t pid = spawn_child(argv, log_path);
  int status = 0;
  while (waitpid(pid, &status, 0) < 0) {
    if (errno != EINTR) return 255;
  }
  return exit_code_of(status);
}

pid_t start_child(const std::vector<std::string>& argv, const std::string& log_path) {
  return spawn_child(argv, log_path);
}

}  // namespace keel::cli
