#pragma once
// The simulator's way through the Redis-compatible front door: each KV command the workload
// draws goes in as RESP bytes to a resp::RespSession (the runtime's code), which submits it
// through the VSR client; the reply bytes come back as the KV result the linearizability checker
// judges. A front-door bug shows up as a wrong history, or as a reply that cannot answer its
// command (an assertion: the run fails as a crash).

#include <deque>
#include <string>
#include <utility>

#include "absl/functional/any_invocable.h"
#include "core/vsr/client.h"
#include "workloads/kv/kv.pb.h"
#include "workloads/resp/resp_session.h"

namespace keel::sim {

class RespFront {
 public:
  using Done = absl::AnyInvocable<void(bool known, std::string result)>;

  RespFront(const resp::RespSessionOptions& options, vsr::Client& client);
  RespFront(const RespFront&) = delete;
  RespFront& operator=(const RespFront&) = delete;

  // A serialized kv::proto::Command; done as KvSubmit promises (sim/kv_workload.h).
  void submit(std::string command, Done done);

 private:
  void drain();

  vsr::Client& client_;
  resp::RespSession session_;
  std::string replies_;  // reply bytes not yet parsed
  std::deque<std::pair<kv::proto::Command, Done>> waiting_;
};

}  // namespace keel::sim
