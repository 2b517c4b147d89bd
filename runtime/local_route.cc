#include "runtime/local_route.h"

#include <utility>

#include "io/assert.h"

namespace keel::runtime {

class LocalRoute::ReplicaBus final : public io::MessageBus {
 public:
  ReplicaBus(LocalRoute& route, io::MessageBus& network) : route_(route), network_(network) {
    KEEL_ASSERT(network_.self() == route_.replica_);
  }
  ~ReplicaBus() override { network_.set_receiver(nullptr); }

  io::NodeId self() const override { return route_.replica_; }
  void send(io::NodeId to, uint16_t kind, std::span<const uint8_t> body) override {
    if (to >= client_node_first) {
      route_.enqueue(to, route_.replica_, kind, body);
    } else {
      network_.send(to, kind, body);
    }
  }
  void set_receiver(Receiver receiver) override {
    receiver_ = std::move(receiver);
    network_.set_receiver([this](io::NodeId from, uint16_t kind, std::span<const uint8_t> body) {
      KEEL_ASSERT(from < client_node_first);
      receive(from, kind, body);
    });
  }
  void receive(io::NodeId from, uint16_t kind, std::span<const uint8_t> body) {
    if (receiver_) receiver_(from, kind, body);
  }

 private:
  LocalRoute& route_;
  io::MessageBus& network_;
  Receiver receiver_;
};

class LocalRoute::SessionBus final : public io::MessageBus {
 public:
  SessionBus(LocalRoute& route, io::MessageBus& network, io::NodeId self)
      : route_(route), network_(network), self_(self) {
    KEEL_ASSERT(self_ >= client_node_first);
    network_.set_receiver([this](io::NodeId from, uint16_t kind, std::span<const uint8_t> body) {
      receive(from, kind, body);
    });
  }
  ~SessionBus() override {
    network_.set_receiver(nullptr);
    route_.forget(self_);
  }

  io::NodeId self() const override { return self_; }
  void send(io::NodeId to, uint16_t kind, std::span<const uint8_t> body) override {
    if (to == route_.replica_) {
      route_.enqueue(to, self_, kind, body);
    } else {
      network_.send(to, kind, body);
    }
  }
  void set_receiver(Receiver receiver) override { receiver_ = std::move(receiver); }
  void receive(io::NodeId from, uint16_t kind, std::span<const uint8_t> body) {
    if (receiver_) receiver_(from, kind, body);
  }

 private:
  LocalRoute& route_;
  io::MessageBus& network_;
  const io::NodeId self_;
  Receiver receiver_;
};

LocalRoute::LocalRoute(Loop& loop, io::MessageBus& network, io::NodeId replica)
    : loop_(loop), replica_(replica) {
  KEEL_ASSERT(replica_ < client_node_first);
  replica_bus_ = std::make_unique<ReplicaBus>(*this, network);
}

LocalRoute::~LocalRoute() {
  // Sessions go first: each holds a reference to the route.
  KEEL_ASSERT(sessions_.empty());
  loop_.cancel_timer(deliver_timer_);
}

io::MessageBus& LocalRoute::replica_bus() { return *replica_bus_; }

std::unique_ptr<io::MessageBus> LocalRoute::session_bus(io::MessageBus& session_network) {
  // Ids are never reused (a late reply must not reach a stranger); 2^31 sessions is the limit.
  KEEL_ASSERT(session_next_ != io::node_id_none);
  const io::NodeId self = session_next_++;
  auto bus = std::make_unique<SessionBus>(*this, session_network, self);
  sessions_.emplace(self, bus.get());
  return bus;
}

void LocalRoute::forget(io::NodeId session) {
  const size_t erased = sessions_.erase(session);
  KEEL_ASSERT(erased == 1);
}

void LocalRoute::enqueue(io::NodeId to, io::NodeId from, uint16_t kind,
                         std::span<const uint8_t> body) {
  KEEL_ASSERT((to == replica_) != (to >= client_node_first));
  if (queue_size_bytes_ + body.size() > queue_size_bytes_max) {
    counters_.messages_dropped++;
    return;
  }
  queue_size_bytes_ += body.size();
  queue_.push_back(Message{to, from, kind, std::vector<uint8_t>(body.begin(), body.end())});
  if (deliver_timer_ == io::timer_id_none) {
    deliver_timer_ = loop_.start_timer(0, [this] { deliver(); });
  }
}

// Delivers what was queued before this turn; what the receivers send now waits for the next.
void LocalRoute::deliver() {
  deliver_timer_ = io::timer_id_none;
  std::vector<Message> messages;
  messages.swap(queue_);
  queue_size_bytes_ = 0;
  for (const Message& message : messages) {
    if (message.to == replica_) {
      counters_.messages_delivered++;
      replica_bus_->receive(message.from, message.kind, message.body);
      continue;
    }
    const auto found = sessions_.find(message.to);
    if (found == sessions_.end()) {
      counters_.messages_dropped++;
      continue;
    }
    counters_.messages_delivered++;
    found->second->receive(message.from, message.kind, message.body);
  }
}

}  // namespace keel::runtime
