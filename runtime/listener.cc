#include "runtime/listener.h"

#include <sys/socket.h>
#include <unistd.h>

#include "io/assert.h"

namespace keel::runtime {

Listener::Listener(Loop& loop, int listen_fd, OnAccept on_accept)
    : loop_(loop), listen_fd_(listen_fd), on_accept_(std::move(on_accept)) {
  KEEL_ASSERT(listen_fd_ >= 0);
  KEEL_ASSERT(on_accept_);
  accept_next();
}

Listener::~Listener() {
  // Destroy only once idle(), or when the loop will not run again.
  loop_.cancel_timer(retry_timer_);
  if (listen_fd_ >= 0 && !accepting_) loop_.close_socket(listen_fd_);
}

void Listener::stop() {
  if (stopped_) return;
  stopped_ = true;
  loop_.cancel_timer(retry_timer_);
  retry_timer_ = io::timer_id_none;
  if (accepting_) {
    // Wakes the pending accept: it completes with an error, and the socket closes then.
    shutdown(listen_fd_, SHUT_RDWR);
  } else if (listen_fd_ >= 0) {
    loop_.close_socket(listen_fd_);
    listen_fd_ = -1;
  }
}

void Listener::accept_next() {
  KEEL_ASSERT(listen_fd_ >= 0 && !accepting_);
  accepting_ = true;
  loop_.accept(listen_fd_, [this](int64_t result) {
    accepting_ = false;
    accepted(result);
  });
}

void Listener::accepted(int64_t result) {
  if (stopped_) {
    if (result >= 0) close(static_cast<int>(result));
    loop_.close_socket(listen_fd_);
    listen_fd_ = -1;
    return;
  }
  if (result >= 0) {
    on_accept_(static_cast<int>(result));
    accept_next();
    return;
  }
  // Out of descriptors or memory, or an aborted handshake: try again shortly.
  retry_timer_ = loop_.start_timer(retry_delay_ms * io::ns_per_ms, [this] {
    retry_timer_ = io::timer_id_none;
    accept_next();
  });
}

}  // namespace keel::runtime
