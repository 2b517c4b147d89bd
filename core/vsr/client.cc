#include "core/vsr/client.h"

#include <algorithm>
#include <utility>

#include "core/vsr/messages.pb.h"
#include "core/vsr/wire.h"
#include "io/assert.h"
#include "io/frame.h"

namespace keel::vsr {

struct Client::Impl {
  // What the one message in flight is: a REGISTER, or the caller's command.
  enum class Phase : uint8_t { idle, registering, requesting };

  Impl(const Config& config, const ClientOptions& options, io::Env env, uint64_t client_id)
      : config(config), options(options), env(env), client_id(client_id) {}

  void submit(std::string command, absl::AnyInvocable<void(const ClientOutcome&)> done);
  void start_register();
  void start_request();
  void send_attempt();
  void on_timeout();
  void receive(io::NodeId from, uint16_t kind, std::span<const uint8_t> body);
  void on_register_reply(const proto::Reply& reply);
  void on_request_reply(const proto::Reply& reply);
  void finish(ClientOutcome outcome);

  const Config config;
  const ClientOptions options;
  io::Env env;
  const uint64_t client_id;
  uint64_t session = 0;              // 0 until a REGISTER reply names one
  uint64_t session_evicted_max = 0;  // a REGISTER reply naming this or older is a stale copy
  uint64_t request_number = 0;       // of the latest request of this session
  uint64_t view = 0;                 // the newest view seen in any reply

  Phase phase = Phase::idle;
  std::string command;
  absl::AnyInvocable<void(const ClientOutcome&)> done;
  proto::Request message;  // the message in flight, resent as is
  uint32_t attempts = 0;   // sends of message so far
  io::TimerId timer = io::timer_id_none;
};

void Client::Impl::submit(std::string command_new,
                          absl::AnyInvocable<void(const ClientOutcome&)> done_new) {
  KEEL_ASSERT(phase == Phase::idle);
  KEEL_ASSERT(done_new);
  // The caller bounds its commands: a request that does not fit a frame could never be sent.
  KEEL_ASSERT(command_new.size() + 64 <= io::frame_body_size_bytes_max);
  command = std::move(command_new);
  done = std::move(done_new);
  if (session == 0) {
    start_register();
  } else {
    start_request();
  }
  KEEL_ASSERT(phase != Phase::idle);
}

void Client::Impl::start_register() {
  KEEL_ASSERT(session == 0);
  phase = Phase::registering;
  message.Clear();
  message.set_client(client_id);
  message.set_register_(true);
  attempts = 0;
  send_attempt();
}

void Client::Impl::start_request() {
  KEEL_ASSERT(session != 0);
  phase = Phase::requesting;
  request_number++;
  message.Clear();
  message.set_client(client_id);
  message.set_session(session);
  message.set_request(request_number);
  message.set_command(command);
  attempts = 0;
  send_attempt();
}

// The first attempt goes to the replica the client believes is primary; every later one to all
// replicas, since after a timeout the client cannot tell a lost message from a new view.
void Client::Impl::send_attempt() {
  KEEL_ASSERT(phase != Phase::idle);
  KEEL_ASSERT(attempts < options.attempts_max);
  KEEL_ASSERT(timer == io::timer_id_none);
  attempts++;
  if (attempts == 1) {
    const io::NodeId primary = static_cast<io::NodeId>(view % config.replica_count);
    const bool sent =
        io::send_message(env.bus, primary, static_cast<uint16_t>(Kind::request), message);
    KEEL_ASSERT(sent);
  } else {
    for (io::NodeId replica = 0; replica < config.replica_count; replica++) {
      const bool sent =
          io::send_message(env.bus, replica, static_cast<uint16_t>(Kind::request), message);
      KEEL_ASSERT(sent);
    }
  }
  timer = env.timers.start(options.request_timeout_ms * io::ns_per_ms, [this] {
    timer = io::timer_id_none;
    on_timeout();
  });
}

void Client::Impl::on_timeout() {
  KEEL_ASSERT(phase != Phase::idle);
  if (attempts < options.attempts_max) {
    send_attempt();
    return;
  }
  // A register that timed out fails the command too: it was never sent, but the caller only
  // needs a conservative answer, and timed_out promises nothing either way.
  finish(ClientOutcome{ClientOutcome::Status::timed_out, {}, 0});
}

void Client::Impl::receive(io::NodeId from, uint16_t kind, std::span<const uint8_t> body) {
  if (kind != static_cast<uint16_t>(Kind::reply) || from >= config.replica_count) return;
  proto::Reply reply;
  if (!parse_message(body, reply) || reply.client() != client_id) return;
  // Any reply of ours, even a stale one, says the view existed: the newest steers later requests.
  view = std::max(view, reply.view());
  switch (phase) {
    case Phase::idle:
      return;  // A late copy of a reply already taken, or of a request given up on.
    case Phase::registering:
      on_register_reply(reply);
      return;
    case Phase::requesting:
      on_request_reply(reply);
      return;
  }
}

void Client::Impl::on_register_reply(const proto::Reply& reply) {
  if (reply.request() != 0) return;  // Of a request of an older session.
  switch (reply.status()) {
    case proto::OK:
      // The session number is the REGISTER's op. A copy of an older registration's reply (its
      // session since evicted) names an op no newer than the evicted session: ignore it.
      if (reply.op() == 0 || reply.op() <= session_evicted_max) return;
      if (reply.session() != 0 && reply.session() != reply.op()) return;
      session = reply.op();
      request_number = 0;  // Request numbers start again at 1 in each session.
      if (timer != io::timer_id_none) env.timers.cancel(timer);
      timer = io::timer_id_none;
      start_request();
      return;
    case proto::SESSION_EVICTED:
    case proto::SESSION_UNKNOWN:
      finish(ClientOutcome{ClientOutcome::Status::evicted, {}, 0});
      return;
    case proto::REQUEST_STALE:
      finish(ClientOutcome{ClientOutcome::Status::timed_out, {}, 0});
      return;
    default:
      return;  // Not a status this client knows: wait for another reply or the timeout.
  }
}

void Client::Impl::on_request_reply(const proto::Reply& reply) {
  KEEL_ASSERT(session != 0);
  if (reply.session() != session || reply.request() != request_number) return;
  switch (reply.status()) {
    case proto::OK:
      finish(ClientOutcome{ClientOutcome::Status::ok, reply.result(), reply.op()});
      return;
    case proto::SESSION_EVICTED:
    case proto::SESSION_UNKNOWN:
      // The command may or may not have taken effect before the eviction; the next command
      // registers a new session.
      session_evicted_max = std::max(session_evicted_max, session);
      session = 0;
      request_number = 0;
      finish(ClientOutcome{ClientOutcome::Status::evicted, {}, 0});
      return;
    case proto::REQUEST_STALE:
      finish(ClientOutcome{ClientOutcome::Status::timed_out, {}, 0});
      return;
    default:
      return;
  }
}

// Runs done last, with the client idle again, so that done may submit the next command.
void Client::Impl::finish(ClientOutcome outcome) {
  KEEL_ASSERT(phase != Phase::idle);
  KEEL_ASSERT(done);
  if (timer != io::timer_id_none) env.timers.cancel(timer);
  timer = io::timer_id_none;
  phase = Phase::idle;
  attempts = 0;
  command.clear();
  message.Clear();
  absl::AnyInvocable<void(const ClientOutcome&)> callback = std::move(done);
  done = nullptr;
  callback(outcome);
}

Client::Client(const Config& config, const ClientOptions& options, io::Env env, uint64_t client_id)
    : impl_(std::make_unique<Impl>(config, options, env, client_id)) {
  KEEL_ASSERT(config.replica_count >= 1);
  KEEL_ASSERT(options.request_timeout_ms > 0);
  KEEL_ASSERT(options.attempts_max >= 1);
  Impl* impl = impl_.get();
  impl->view = options.view_hint;
  impl->env.bus.set_receiver([impl](io::NodeId from, uint16_t kind, std::span<const uint8_t> body) {
    impl->receive(from, kind, body);
  });
}

Client::~Client() {
  // Nothing may call back into a destroyed client: the timer is cancelled and the receiver,
  // which holds a pointer to impl_, is cleared.
  if (impl_->timer != io::timer_id_none) impl_->env.timers.cancel(impl_->timer);
  impl_->env.bus.set_receiver(nullptr);
}

void Client::submit(std::string command, absl::AnyInvocable<void(const ClientOutcome&)> done) {
  impl_->submit(std::move(command), std::move(done));
}

bool Client::busy() const { return impl_->phase != Impl::Phase::idle; }
uint64_t Client::session() const { return impl_->session; }
uint64_t Client::view() const { return impl_->view; }

}  // namespace keel::vsr
