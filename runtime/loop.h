#pragma once
// The runtime's event loop: one per process, one thread. It runs disk operations, TCP socket
// operations and timers, and calls their callbacks on the loop, never inside the call that
// started them.
//
// Two backends with one interface (docs/runtime.md):
// - uring: one io_uring (liburing), submissions batched until the loop waits; no SQPOLL.
// - epoll: for machines where io_uring is unavailable (seccomp, kernel.io_uring_disabled, old
//   kernels). Disk operations run synchronously when submitted and complete on the next turn;
//   socket operations wait for readiness on non-blocking sockets.

#include <netinet/in.h>

#include <cstdint>
#include <map>
#include <memory>
#include <span>
#include <string>

#include "absl/container/flat_hash_map.h"
#include "absl/functional/any_invocable.h"
#include "io/timers.h"
#include "io/types.h"

namespace keel::runtime {

enum class Backend : uint8_t { uring, epoll };
const char* backend_name(Backend backend);

class Loop {
 public:
  // result: bytes transferred (reads and writes) or 0 (datasync), or -errno.
  using Completion = absl::AnyInvocable<void(int64_t result)>;

  // Operations in flight at once; a caller beyond it is a bug (callers bound their own queues).
  static constexpr uint32_t operations_in_flight_max = 4096;

  // Starts the backend; nullptr with error set if it cannot (the uring probe failed).
  static std::unique_ptr<Loop> create(Backend backend, std::string& error);
  // io_uring if the probe passes, else epoll; why says which runs and, on a fallback, why.
  static std::unique_ptr<Loop> create_preferred(std::string& why);

  virtual ~Loop() = default;
  virtual Backend backend() const = 0;

  // The buffer stays alive and unchanged until done runs.
  virtual void read(int fd, uint64_t offset_bytes, std::span<uint8_t> buffer, Completion done) = 0;
  virtual void write(int fd, uint64_t offset_bytes, std::span<const uint8_t> buffer,
                     Completion done) = 0;
  // fdatasync(2): every write that completed before this call is durable when done runs.
  virtual void datasync(int fd, Completion done) = 0;

  // TCP sockets, made in the mode the backend needs (non-blocking for epoll). Each returns a
  // socket or -errno. Nagle is off: the bus batches frames itself.
  int open_tcp_socket();
  int listen_tcp(const sockaddr_in& address, int backlog);
  // At most one receiving (accept, recv) and one sending (connect, send) operation per socket at
  // a time. To end a socket's pending operations, shutdown(2) it: they complete (recv with 0,
  // others with -errno); once none is pending, close_socket() releases it.
  virtual void accept(int listen_fd, Completion done) = 0;  // result: the new socket
  virtual void connect(int fd, const sockaddr_in& address, Completion done) = 0;  // result: 0
  virtual void recv(int fd, std::span<uint8_t> buffer, Completion done) = 0;      // 0: peer closed
  // May send fewer bytes than given; the caller sends the rest.
  virtual void send(int fd, std::span<const uint8_t> buffer, Completion done) = 0;
  virtual void close_socket(int fd);

  // One-shot timers on the monotonic clock.
  io::TimerId start_timer(uint64_t delay_ns, io::Callback callback);
  bool cancel_timer(io::TimerId timer);

  // One turn: waits up to timeout_ns for a completion or the next timer, then runs every
  // completion and every due timer.
  void run_once(uint64_t timeout_ns);
  // Turns until nothing is in flight and no timer is pending, or done() holds.
  template <typename Done>
  void run_until(Done done) {
    while (!done() && (operations_in_flight_ > 0 || !timers_.empty())) run_once(UINT64_MAX);
  }

  uint32_t operations_in_flight() const { return operations_in_flight_; }
  size_t timers_pending() const { return timers_.size(); }

  static uint64_t monotonic_ns();

 protected:
  virtual bool sockets_nonblocking() const = 0;
  // Waits up to timeout_ns for completions and runs them; returns how many ran.
  virtual uint32_t wait_and_complete(uint64_t timeout_ns) = 0;
  void begin_operation();
  void end_operation();

 private:
  void run_due_timers();

  uint32_t operations_in_flight_ = 0;
  io::TimerId timer_next_ = 1;
  // Keyed by (deadline, id): timers due at once fire in the order they were started.
  std::map<std::pair<uint64_t, io::TimerId>, io::Callback> timers_;
  absl::flat_hash_map<io::TimerId, uint64_t> timer_deadlines_;
};

}  // namespace keel::runtime
