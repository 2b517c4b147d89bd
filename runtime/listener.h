#pragma once
// A listening socket on the loop: one accept in flight at a time, each new socket handed to
// on_accept, until stop(). Shared by the message bus and the admin endpoint.

#include <cstdint>

#include "absl/functional/any_invocable.h"
#include "io/timers.h"
#include "runtime/loop.h"

namespace keel::runtime {

class Listener {
 public:
  using OnAccept = absl::AnyInvocable<void(int fd)>;
  static constexpr uint64_t retry_delay_ms = 100;

  // Takes the listening socket and starts accepting.
  Listener(Loop& loop, int listen_fd, OnAccept on_accept);
  ~Listener();
  Listener(const Listener&) = delete;
  Listener& operator=(const Listener&) = delete;

  // Stops accepting; the socket closes once its pending accept has completed.
  void stop();
  bool idle() const { return listen_fd_ < 0; }

 private:
  void accept_next();
  void accepted(int64_t result);

  Loop& loop_;
  int listen_fd_;
  OnAccept on_accept_;
  bool accepting_ = false;
  bool stopped_ = false;
  io::TimerId retry_timer_ = io::timer_id_none;
};

}  // namespace keel::runtime
