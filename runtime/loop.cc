#include "runtime/loop.h"

#include <liburing.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <utility>
#include <vector>

#include "io/assert.h"

namespace keel::runtime {

const char* backend_name(Backend backend) {
  switch (backend) {
    case Backend::uring:
      return "uring";
    case Backend::epoll:
      return "epoll";
  }
  return "unknown";
}

uint64_t Loop::monotonic_ns() {
  timespec now{};
  const int result = clock_gettime(CLOCK_MONOTONIC, &now);
  KEEL_ASSERT(result == 0);
  return static_cast<uint64_t>(now.tv_sec) * io::ns_per_s + static_cast<uint64_t>(now.tv_nsec);
}

io::TimerId Loop::start_timer(uint64_t delay_ns, io::Callback callback) {
  KEEL_ASSERT(callback);
  const uint64_t now = monotonic_ns();
  const uint64_t deadline = delay_ns > UINT64_MAX - now ? UINT64_MAX : now + delay_ns;
  const io::TimerId id = timer_next_++;
  timers_.emplace(std::make_pair(deadline, id), std::move(callback));
  timer_deadlines_.emplace(id, deadline);
  return id;
}

bool Loop::cancel_timer(io::TimerId timer) {
  const auto found = timer_deadlines_.find(timer);
  if (found == timer_deadlines_.end()) return false;
  timers_.erase(std::make_pair(found->second, timer));
  timer_deadlines_.erase(found);
  return true;
}

void Loop::run_once(uint64_t timeout_ns) {
  // Nothing could end an endless wait.
  if (timeout_ns == UINT64_MAX && operations_in_flight_ == 0 && timers_.empty()) return;
  uint64_t wait_ns = timeout_ns;
  if (!timers_.empty()) {
    const uint64_t now = monotonic_ns();
    const uint64_t deadline = timers_.begin()->first.first;
    wait_ns = std::min(wait_ns, deadline > now ? deadline - now : 0);
  }
  wait_and_complete(wait_ns);
  run_due_timers();
}

// Only the timers due when the turn began fire in it: a callback that starts a timer of delay 0
// sees it fire on the next turn, so a turn always ends.
void Loop::run_due_timers() {
  const uint64_t now = monotonic_ns();
  std::vector<io::Callback> due;
  while (!timers_.empty() && timers_.begin()->first.first <= now) {
    auto node = timers_.extract(timers_.begin());
    timer_deadlines_.erase(node.key().second);
    due.push_back(std::move(node.mapped()));
  }
  for (io::Callback& callback : due) callback();
}

int Loop::open_tcp_socket() {
  const int flags = SOCK_STREAM | SOCK_CLOEXEC | (sockets_nonblocking() ? SOCK_NONBLOCK : 0);
  const int fd = socket(AF_INET, flags, 0);
  if (fd < 0) return -errno;
  const int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  return fd;
}

int Loop::listen_tcp(const sockaddr_in& address, int backlog) {
  const int fd = open_tcp_socket();
  if (fd < 0) return fd;
  const int one = 1;
  // A restarted replica must get its port back while old connections linger in TIME_WAIT.
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  if (bind(fd, reinterpret_cast<const sockaddr*>(&address), sizeof(address)) < 0 ||
      listen(fd, backlog) < 0) {
    const int error = errno;
    close(fd);
    return -error;
  }
  return fd;
}

void Loop::close_socket(int fd) {
  KEEL_ASSERT(fd >= 0);
  close(fd);
}

void Loop::begin_operation() {
  KEEL_ASSERT(operations_in_flight_ < operations_in_flight_max);
  operations_in_flight_++;
}

void Loop::end_operation() {
  KEEL_ASSERT(operations_in_flight_ > 0);
  operations_in_flight_--;
}

namespace {

std::string errno_text(int error) { return std::strerror(error); }

// --- io_uring ---

class UringLoop final : public Loop {
 public:
  static constexpr uint32_t queue_depth = 256;

  static std::unique_ptr<Loop> create(std::string& error) {
    auto loop = std::unique_ptr<UringLoop>(new UringLoop());
    const int result = io_uring_queue_init(queue_depth, &loop->ring_, 0);
    if (result < 0) {
      error = "io_uring_setup failed: " + errno_text(-result);
      return nullptr;
    }
    loop->ring_ready_ = true;
    if (!loop->probe(error)) return nullptr;
    return loop;
  }

  ~UringLoop() override {
    if (ring_ready_) io_uring_queue_exit(&ring_);
  }

  Backend backend() const override { return Backend::uring; }

  void read(int fd, uint64_t offset_bytes, std::span<uint8_t> buffer, Completion done) override {
    io_uring_sqe* sqe = next_sqe();
    io_uring_prep_read(sqe, fd, buffer.data(), static_cast<unsigned>(buffer.size()), offset_bytes);
    track(sqe, std::move(done));
  }

  void write(int fd, uint64_t offset_bytes, std::span<const uint8_t> buffer,
             Completion done) override {
    io_uring_sqe* sqe = next_sqe();
    io_uring_prep_write(sqe, fd, buffer.data(), static_cast<unsigned>(buffer.size()), offset_bytes);
    track(sqe, std::move(done));
  }

  void datasync(int fd, Completion done) override {
    io_uring_sqe* sqe = next_sqe();
    io_uring_prep_fsync(sqe, fd, IORING_FSYNC_DATASYNC);
    track(sqe, std::move(done));
  }

  void accept(int listen_fd, Completion done) override {
    io_uring_sqe* sqe = next_sqe();
    io_uring_prep_accept(sqe, listen_fd, nullptr, nullptr, SOCK_CLOEXEC);
    track(sqe, std::move(done));
  }

  void connect(int fd, const sockaddr_in& address, Completion done) override {
    io_uring_sqe* sqe = next_sqe();
    Operation* operation = track(sqe, std::move(done));
    // The kernel reads the address after submission: it lives in the operation.
    operation->address = address;
    io_uring_prep_connect(sqe, fd, reinterpret_cast<const sockaddr*>(&operation->address),
                          sizeof(operation->address));
    io_uring_sqe_set_data(sqe, operation);
  }

  void recv(int fd, std::span<uint8_t> buffer, Completion done) override {
    io_uring_sqe* sqe = next_sqe();
    io_uring_prep_recv(sqe, fd, buffer.data(), buffer.size(), 0);
    track(sqe, std::move(done));
  }

  void send(int fd, std::span<const uint8_t> buffer, Completion done) override {
    io_uring_sqe* sqe = next_sqe();
    io_uring_prep_send(sqe, fd, buffer.data(), buffer.size(), MSG_NOSIGNAL);
    track(sqe, std::move(done));
  }

 protected:
  bool sockets_nonblocking() const override { return false; }

  uint32_t wait_and_complete(uint64_t timeout_ns) override {
    io_uring_cqe* cqe = nullptr;
    __kernel_timespec timeout{};
    timeout.tv_sec = static_cast<int64_t>(std::min<uint64_t>(timeout_ns / io::ns_per_s, INT32_MAX));
    timeout.tv_nsec = static_cast<long long>(timeout_ns % io::ns_per_s);
    const bool forever = timeout_ns == UINT64_MAX;
    // Submits everything queued since the last turn in one system call, then waits.
    const int result =
        io_uring_submit_and_wait_timeout(&ring_, &cqe, 1, forever ? nullptr : &timeout, nullptr);
    KEEL_ASSERT(result >= 0 || result == -ETIME || result == -EINTR || result == -EAGAIN ||
                result == -EBUSY);
    std::vector<std::pair<Operation*, int64_t>> completed;
    unsigned head = 0;
    io_uring_for_each_cqe(&ring_, head, cqe) {
      completed.emplace_back(static_cast<Operation*>(io_uring_cqe_get_data(cqe)), cqe->res);
    }
    io_uring_cq_advance(&ring_, static_cast<unsigned>(completed.size()));
    // Callbacks run after the queue advanced: they may submit more.
    for (auto& [operation, res] : completed) {
      KEEL_ASSERT(operation != nullptr);
      std::unique_ptr<Operation> owned(operation);
      end_operation();
      owned->done(res);
    }
    return static_cast<uint32_t>(completed.size());
  }

 private:
  struct Operation {
    Completion done;
    sockaddr_in address{};  // connect only
  };

  UringLoop() = default;

  // Every opcode the runtime uses must be supported, or the epoll backend runs instead.
  bool probe(std::string& error) {
    io_uring_probe* probe = io_uring_get_probe_ring(&ring_);
    if (probe == nullptr) {
      error = "io_uring has no opcode probe (kernel older than 5.6)";
      return false;
    }
    const std::pair<int, const char*> needed[] = {
        {IORING_OP_READ, "READ"},     {IORING_OP_WRITE, "WRITE"},     {IORING_OP_FSYNC, "FSYNC"},
        {IORING_OP_ACCEPT, "ACCEPT"}, {IORING_OP_CONNECT, "CONNECT"}, {IORING_OP_RECV, "RECV"},
        {IORING_OP_SEND, "SEND"}};
    bool ok = true;
    for (const auto& [opcode, name] : needed) {
      if (io_uring_opcode_supported(probe, opcode) == 0) {
        error = std::string("io_uring lacks the ") + name + " opcode";
        ok = false;
        break;
      }
    }
    io_uring_free_probe(probe);
    return ok;
  }

  io_uring_sqe* next_sqe() {
    io_uring_sqe* sqe = io_uring_get_sqe(&ring_);
    if (sqe == nullptr) {
      // The submission queue is full: hand it to the kernel now and take a fresh entry.
      const int submitted = io_uring_submit(&ring_);
      KEEL_ASSERT(submitted >= 0);
      sqe = io_uring_get_sqe(&ring_);
    }
    KEEL_ASSERT(sqe != nullptr);
    return sqe;
  }

  Operation* track(io_uring_sqe* sqe, Completion done) {
    KEEL_ASSERT(done);
    begin_operation();
    auto* operation = new Operation{std::move(done)};
    io_uring_sqe_set_data(sqe, operation);
    return operation;
  }

  io_uring ring_{};
  bool ring_ready_ = false;
};

// --- epoll ---

class EpollLoop final : public Loop {
 public:
  static std::unique_ptr<Loop> create(std::string& error) {
    const int fd = epoll_create1(EPOLL_CLOEXEC);
    if (fd < 0) {
      error = "epoll_create1 failed: " + errno_text(errno);
      return nullptr;
    }
    return std::unique_ptr<Loop>(new EpollLoop(fd));
  }

  ~EpollLoop() override { close(epoll_fd_); }

  Backend backend() const override { return Backend::epoll; }

  void read(int fd, uint64_t offset_bytes, std::span<uint8_t> buffer, Completion done) override {
    const int64_t result = transfer(buffer.size(), [&](size_t at) {
      return pread(fd, buffer.data() + at, buffer.size() - at,
                   static_cast<off_t>(offset_bytes + at));
    });
    complete_later(std::move(done), result);
  }

  void write(int fd, uint64_t offset_bytes, std::span<const uint8_t> buffer,
             Completion done) override {
    const int64_t result = transfer(buffer.size(), [&](size_t at) {
      return pwrite(fd, buffer.data() + at, buffer.size() - at,
                    static_cast<off_t>(offset_bytes + at));
    });
    complete_later(std::move(done), result);
  }

  void datasync(int fd, Completion done) override {
    int result = fdatasync(fd);
    while (result < 0 && errno == EINTR) result = fdatasync(fd);
    complete_later(std::move(done), result < 0 ? -errno : 0);
  }

  void accept(int listen_fd, Completion done) override {
    start_socket_operation(listen_fd, Waiter{Waiter::Kind::accept, std::move(done)});
  }
  void connect(int fd, const sockaddr_in& address, Completion done) override {
    const int result = ::connect(fd, reinterpret_cast<const sockaddr*>(&address), sizeof(address));
    if (result < 0 && errno == EINPROGRESS) {
      park(fd, Waiter{Waiter::Kind::connect, std::move(done)});
      return;
    }
    complete_later(std::move(done), result < 0 ? -errno : 0);
  }
  void recv(int fd, std::span<uint8_t> buffer, Completion done) override {
    start_socket_operation(
        fd, Waiter{Waiter::Kind::recv, std::move(done), buffer.data(), buffer.size()});
  }
  void send(int fd, std::span<const uint8_t> buffer, Completion done) override {
    start_socket_operation(fd, Waiter{Waiter::Kind::send, std::move(done),
                                      const_cast<uint8_t*>(buffer.data()), buffer.size()});
  }
  void close_socket(int fd) override {
    const auto found = sockets_.find(fd);
    if (found != sockets_.end()) {
      KEEL_ASSERT(!found->second.receiving.done && !found->second.sending.done);
      if (found->second.events_registered != 0) epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, fd, nullptr);
      sockets_.erase(found);
    }
    Loop::close_socket(fd);
  }

 protected:
  bool sockets_nonblocking() const override { return true; }

  uint32_t wait_and_complete(uint64_t timeout_ns) override {
    // Completions already waiting must not wait for the timeout.
    int timeout_ms = -1;
    if (!ready_.empty()) {
      timeout_ms = 0;
    } else if (timeout_ns != UINT64_MAX) {
      // Rounded up: waking before a timer is due would spin.
      timeout_ms = static_cast<int>(
          std::min<uint64_t>((timeout_ns + io::ns_per_ms - 1) / io::ns_per_ms, INT32_MAX));
    }
    epoll_event events[64];
    const int result = epoll_wait(epoll_fd_, events, 64, timeout_ms);
    KEEL_ASSERT(result >= 0 || errno == EINTR);
    for (int i = 0; i < result; i++) socket_ready(events[i].data.fd, events[i].events);
    std::vector<std::pair<Completion, int64_t>> completed;
    completed.swap(ready_);
    for (auto& [done, res] : completed) {
      end_operation();
      done(res);
    }
    return static_cast<uint32_t>(completed.size());
  }

 private:
  // A socket operation waiting for its socket to become ready.
  struct Waiter {
    enum class Kind : uint8_t { accept, connect, recv, send };
    Kind kind = Kind::recv;
    Completion done;
    uint8_t* data = nullptr;
    size_t size_bytes = 0;
  };
  struct SocketWaiters {
    Waiter receiving;  // accept or recv
    Waiter sending;    // connect or send
    uint32_t events_registered = 0;
  };

  explicit EpollLoop(int epoll_fd) : epoll_fd_(epoll_fd) {}

  static bool receiving(Waiter::Kind kind) {
    return kind == Waiter::Kind::accept || kind == Waiter::Kind::recv;
  }

  // The system call of a ready (or possibly ready) socket: its result, or -EAGAIN to wait more.
  static int64_t attempt(int fd, const Waiter& waiter) {
    int64_t result = 0;
    do {
      switch (waiter.kind) {
        case Waiter::Kind::accept:
          result = accept4(fd, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
          break;
        case Waiter::Kind::recv:
          result = ::recv(fd, waiter.data, waiter.size_bytes, 0);
          break;
        case Waiter::Kind::send:
          result = ::send(fd, waiter.data, waiter.size_bytes, MSG_NOSIGNAL);
          break;
        case Waiter::Kind::connect: {
          int error = 0;
          socklen_t length = sizeof(error);
          if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &length) < 0) return -errno;
          return error == EINPROGRESS ? -EAGAIN : -error;
        }
      }
    } while (result < 0 && errno == EINTR);
    if (result < 0) return errno == EWOULDBLOCK ? -EAGAIN : -errno;
    return result;
  }

  void start_socket_operation(int fd, Waiter waiter) {
    const int64_t result = attempt(fd, waiter);
    if (result == -EAGAIN) {
      park(fd, std::move(waiter));
      return;
    }
    complete_later(std::move(waiter.done), result);
  }

  void park(int fd, Waiter waiter) {
    KEEL_ASSERT(waiter.done);
    begin_operation();
    SocketWaiters& waiters = sockets_[fd];
    Waiter& slot = receiving(waiter.kind) ? waiters.receiving : waiters.sending;
    KEEL_ASSERT(!slot.done);  // one operation per direction
    slot = std::move(waiter);
    register_events(fd, waiters);
  }

  void register_events(int fd, SocketWaiters& waiters) {
    const uint32_t wanted =
        (waiters.receiving.done ? EPOLLIN : 0u) | (waiters.sending.done ? EPOLLOUT : 0u);
    if (wanted == waiters.events_registered) return;
    epoll_event event{};
    event.events = wanted;
    event.data.fd = fd;
    int op = EPOLL_CTL_MOD;
    if (waiters.events_registered == 0) op = EPOLL_CTL_ADD;
    if (wanted == 0) op = EPOLL_CTL_DEL;
    const int result = epoll_ctl(epoll_fd_, op, fd, &event);
    KEEL_ASSERT(result == 0);
    waiters.events_registered = wanted;
  }

  void socket_ready(int fd, uint32_t events) {
    const auto found = sockets_.find(fd);
    if (found == sockets_.end()) return;
    SocketWaiters& waiters = found->second;
    const bool failed = (events & (EPOLLERR | EPOLLHUP)) != 0;
    if (waiters.receiving.done && (failed || (events & EPOLLIN) != 0)) {
      try_waiter(fd, waiters.receiving);
    }
    if (waiters.sending.done && (failed || (events & EPOLLOUT) != 0)) {
      try_waiter(fd, waiters.sending);
    }
    register_events(fd, waiters);
  }

  // Runs a parked operation's system call; on a result, its completion joins this turn's.
  void try_waiter(int fd, Waiter& waiter) {
    const int64_t result = attempt(fd, waiter);
    if (result == -EAGAIN) return;
    ready_.emplace_back(std::move(waiter.done), result);
    waiter = Waiter{};
  }

  // Repeats a partial pread/pwrite until size_bytes moved; the bytes moved (fewer at the end of
  // the file), or -errno.
  template <typename Step>
  static int64_t transfer(size_t size_bytes, Step step) {
    size_t at = 0;
    while (at < size_bytes) {
      const ssize_t n = step(at);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) return -errno;
      if (n == 0) break;
      at += static_cast<size_t>(n);
    }
    return static_cast<int64_t>(at);
  }

  void complete_later(Completion done, int64_t result) {
    KEEL_ASSERT(done);
    begin_operation();
    ready_.emplace_back(std::move(done), result);
  }

  const int epoll_fd_;
  // Completions to run on the next turn; each counts as in flight until it runs.
  std::vector<std::pair<Completion, int64_t>> ready_;
  absl::flat_hash_map<int, SocketWaiters> sockets_;
};

}  // namespace

std::unique_ptr<Loop> Loop::create(Backend backend, std::string& error) {
  switch (backend) {
    case Backend::uring:
      return UringLoop::create(error);
    case Backend::epoll:
      return EpollLoop::create(error);
  }
  error = "unknown backend";
  return nullptr;
}

std::unique_ptr<Loop> Loop::create_preferred(std::string& why) {
  std::string uring_error;
  std::unique_ptr<Loop> loop = UringLoop::create(uring_error);
  if (loop != nullptr) {
    why = "io backend uring";
    return loop;
  }
  std::string epoll_error;
  loop = EpollLoop::create(epoll_error);
  why = loop != nullptr ? "io backend epoll (io_uring unavailable: " + uring_error + ")"
                        : "no io backend: " + uring_error + "; " + epoll_error;
  return loop;
}

}  // namespace keel::runtime
