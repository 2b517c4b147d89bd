#include "sim/resp_front.h"

#include "io/assert.h"
#include "workloads/kv/text_command.h"
#include "workloads/resp/resp_reply.h"
#include "workloads/resp/resp_writer.h"

namespace keel::sim {

RespFront::RespFront(const resp::RespSessionOptions& options, vsr::Client& client)
    : client_(client),
      session_(
          options,
          [this](std::string command, resp::RespSession::Done done) {
            client_.submit(std::move(command), [this, done = std::move(done)](
                                                   const vsr::ClientOutcome& outcome) mutable {
              done(outcome.status == vsr::ClientOutcome::Status::ok, outcome.result);
              drain();
            });
          },
          [] { return std::string("# Server\r\nredis_version:7.0.0\r\n"); }) {}

void RespFront::submit(std::string command_bytes, Done done) {
  kv::proto::Command command;
  const bool parsed = command.ParseFromString(command_bytes);
  KEEL_ASSERT(parsed);
  const std::vector<std::string> words = kv::command_words(command);
  KEEL_ASSERT(!words.empty());
  std::string request;
  resp::array_header(request, static_cast<int64_t>(words.size()));
  for (const std::string& word : words) resp::bulk(request, word);
  waiting_.emplace_back(std::move(command), std::move(done));
  session_.receive(request);
  drain();
}

void RespFront::drain() {
  replies_ += session_.take_output();
  while (!waiting_.empty()) {
    size_t consumed_bytes = 0;
    resp::RespReply reply;
    const resp::ReplyStatus status = resp::parse_reply(replies_, consumed_bytes, reply);
    KEEL_ASSERT(status != resp::ReplyStatus::malformed);
    if (status == resp::ReplyStatus::need_more) return;
    replies_.erase(0, consumed_bytes);
    auto [command, done] = std::move(waiting_.front());
    waiting_.pop_front();
    bool known = true;
    kv::proto::Result result;
    const bool answers = resp::reply_to_result(command, reply, known, result);
    KEEL_ASSERT(answers);
    done(known, known ? result.SerializeAsString() : std::string());
  }
  KEEL_ASSERT(replies_.empty());
}

}  // namespace keel::sim
