#pragma once
// A VSR client session (VRR 4.1, 4.5): registers once, then sends one request at a time with a
// strictly increasing request number, to the replica it believes is primary, and on a timeout
// to all replicas. Replies carry the view, which steers later requests to the new primary.
// Straight-line callers (simulated workloads, the RESP front door) wrap it in a fiber.

#include <cstdint>
#include <memory>
#include <string>

#include "absl/functional/any_invocable.h"
#include "core/vsr/config.h"
#include "io/env.h"

namespace keel::vsr {

struct ClientOutcome {
  enum class Status : uint8_t {
    ok,         // result holds the state machine's answer; the command took effect once
    timed_out,  // no reply within the attempts: it may or may not have taken effect
    evicted,    // the session was evicted: it may or may not have taken effect; the client
                // registers again before its next request
  };
  Status status = Status::timed_out;
  std::string result;
  uint64_t op = 0;  // the op that carried it (ok only)
};

struct ClientOptions {
  uint64_t request_timeout_ms = 500;  // before resending to every replica
  uint32_t attempts_max = 8;          // then the outcome is timed_out
  // The view to start from: a client living beside a replica (the RESP front door) knows it, and
  // its first request then goes straight to the primary instead of waiting out a timeout.
  uint64_t view_hint = 0;
};

class Client {
 public:
  // client_id must be unique in the cluster; draw it from env.random.
  Client(const Config& config, const ClientOptions& options, io::Env env, uint64_t client_id);
  ~Client();
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  // Submits one command; done runs exactly once, on the loop, never inside submit(). One
  // command at a time. Registration, when needed, happens first and is not a separate call.
  void submit(std::string command, absl::AnyInvocable<void(const ClientOutcome&)> done);
  bool busy() const;
  uint64_t session() const;  // 0 until registered
  uint64_t view() const;     // the newest view seen in a reply

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace keel::vsr
