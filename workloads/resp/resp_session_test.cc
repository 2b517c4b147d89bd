// The RESP session: replies in request order, pipelines batched into one submission, local
// commands, errors, and the unknown outcome. Submissions are answered by a real KV state machine
// when the test says so, like a cluster that takes its time.

#include "workloads/resp/resp_session.h"

#include <gtest/gtest.h>

#include <deque>
#include <string>
#include <utility>

#include "workloads/kv/replicated.h"
#include "workloads/kv/text_command.h"

namespace keel::resp {
namespace {

class RespSessionTest : public ::testing::Test {
 protected:
  RespSessionTest()
      : session_(
            options(),
            [this](std::string command, RespSession::Done done) {
              submitted_.push_back(command);
              pending_.emplace_back(std::move(command), std::move(done));
            },
            [] { return std::string("# Server\r\nredis_version:7.0.0\r\n"); }) {}

  static RespSessionOptions options() {
    RespSessionOptions options;
    options.requests_waiting_max = 8;
    return options;
  }

  // The cluster answers the oldest submission (or says it never saw an outcome).
  void answer(bool known = true) {
    ASSERT_FALSE(pending_.empty());
    auto [command, done] = std::move(pending_.front());
    pending_.pop_front();
    done(known, known ? machine_.apply(command, 0) : std::string());
  }

  std::string send(const std::string& bytes) {
    session_.receive(bytes);
    return session_.take_output();
  }

  kv::KvReplicated machine_;
  std::deque<std::pair<std::string, RespSession::Done>> pending_;
  std::vector<std::string> submitted_;
  RespSession session_;
};

TEST_F(RespSessionTest, RepliesComeInRequestOrderAndPipelinesBecomeOneBatch) {
  // One read holding a pipeline: its KV commands go as one batch, PING waits its turn.
  EXPECT_EQ(send("*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1\r\nv\r\nPING\r\n*2\r\n$3\r\nGET\r\n$1\r\nk\r\n"
                 "INCR n\r\nINCR n\r\n"),
            "");
  ASSERT_EQ(pending_.size(), 1u);
  kv::proto::Command batch;
  ASSERT_TRUE(batch.ParseFromString(submitted_.back()));
  EXPECT_EQ(batch.batch().commands_size(), 4);
  answer();
  EXPECT_EQ(session_.take_output(), "+OK\r\n+PONG\r\n$1\r\nv\r\n:1\r\n:2\r\n");
  EXPECT_TRUE(session_.idle());
}

// The session frames queued commands itself instead of building a Batch message: what it submits
// must be exactly what Protobuf would serialize, split within the batch limits, in order.
TEST(RespSessionBatches, SubmissionsAreProtobufsOwnBytesWithinTheLimits) {
  RespSessionOptions options;
  options.requests_waiting_max = 1000;
  options.batch_commands_max = 5;
  options.batch_size_bytes_max = 300;
  std::vector<std::string> submitted;
  std::deque<RespSession::Done> waiting;
  kv::KvReplicated machine;
  RespSession session(
      options,
      [&](std::string command, RespSession::Done done) {
        submitted.push_back(command);
        waiting.push_back(
            [&machine, command, done = std::move(done)](bool known, const std::string&) mutable {
              done(known, machine.apply(command, 0));
            });
      },
      [] { return std::string(); });
  // Values around the lengths where a varint grows (127, 16,383), and one over the batch limit.
  std::vector<std::vector<std::string>> sent;
  std::string stream;
  for (const size_t value_size : {1, 126, 127, 128, 200, 20000, 3, 16384, 0, 5, 7, 9, 11, 13}) {
    sent.push_back({"SET", "key:" + std::to_string(sent.size()), std::string(value_size, 'v')});
    stream += "*3\r\n$3\r\nSET\r\n";
    for (size_t i = 1; i < 3; i++) {
      stream += "$" + std::to_string(sent.back()[i].size()) + "\r\n" + sent.back()[i] + "\r\n";
    }
  }
  sent.push_back({"GET", "key:5"});
  stream += "GET key:5\r\n";
  session.receive(stream);
  std::vector<kv::proto::Command> received;
  for (size_t answered = 0; !waiting.empty(); answered++) {
    ASSERT_LT(answered, sent.size());
    kv::proto::Command command;
    ASSERT_TRUE(command.ParseFromString(submitted.back()));
    EXPECT_EQ(command.SerializeAsString(), submitted.back());
    if (command.has_batch()) {
      EXPECT_GE(command.batch().commands_size(), 2);
      EXPECT_LE(command.batch().commands_size(), 5);
      EXPECT_LE(command.batch().ByteSizeLong(), 300u);
      received.insert(received.end(), command.batch().commands().begin(),
                      command.batch().commands().end());
    } else {
      received.push_back(command);
    }
    auto done = std::move(waiting.front());
    waiting.pop_front();
    done(true, "");
  }
  ASSERT_EQ(received.size(), sent.size());
  for (size_t i = 0; i < sent.size(); i++) {
    kv::proto::Command expected;
    std::string error;
    ASSERT_TRUE(kv::parse_text_command(sent[i], expected, error)) << error;
    EXPECT_EQ(received[i].SerializeAsString(), expected.SerializeAsString()) << "command " << i;
  }
  const std::string output = session.take_output();
  EXPECT_TRUE(output.ends_with("$20000\r\n" + std::string(20000, 'v') + "\r\n")) << output.size();
  EXPECT_TRUE(session.idle());
}

TEST_F(RespSessionTest, CommandsArrivingWhileOneIsInFlightGoTogetherNext) {
  send("SET k v\r\n");
  ASSERT_EQ(pending_.size(), 1u);
  EXPECT_EQ(send("GET k\r\nPING\r\nINCR n\r\n"), "");
  EXPECT_EQ(pending_.size(), 1u);  // one submission at a time
  answer();
  EXPECT_EQ(session_.take_output(), "+OK\r\n");
  ASSERT_EQ(pending_.size(), 1u);
  kv::proto::Command batch;
  ASSERT_TRUE(batch.ParseFromString(submitted_.back()));
  EXPECT_EQ(batch.batch().commands_size(), 2);
  answer();
  EXPECT_EQ(session_.take_output(), "$1\r\nv\r\n+PONG\r\n:1\r\n");
}

TEST_F(RespSessionTest, LocalCommandsAnswerAtOnce) {
  EXPECT_EQ(send("PING\r\n"), "+PONG\r\n");
  EXPECT_EQ(send("ECHO hi\r\n"), "$2\r\nhi\r\n");
  EXPECT_EQ(send("SELECT 0\r\n"), "+OK\r\n");
  EXPECT_EQ(send("SELECT 1\r\n"), "-ERR DB index is out of range\r\n");
  EXPECT_EQ(send("COMMAND DOCS\r\n"), "*0\r\n");
  EXPECT_EQ(send("CONFIG GET save\r\n"), "*2\r\n$4\r\nsave\r\n$0\r\n\r\n");
  EXPECT_EQ(send("CONFIG GET maxmemory\r\n"), "*0\r\n");
  EXPECT_EQ(send("CLIENT SETNAME bench\r\n"), "+OK\r\n");
  EXPECT_EQ(send("CLIENT GETNAME\r\n"), "$5\r\nbench\r\n");
  EXPECT_EQ(send("HELLO 3\r\n"), "-NOPROTO this server does not support the RESP3 protocol\r\n");
  EXPECT_EQ(send("HELLO\r\n").substr(0, 4), "*14\r");
  EXPECT_NE(send("INFO\r\n").find("redis_version:7.0.0"), std::string::npos);
  EXPECT_TRUE(pending_.empty());
}

TEST_F(RespSessionTest, ErrorsUseRedisWording) {
  EXPECT_EQ(send("FLUSHALL now\r\n"),
            "-ERR unknown command 'FLUSHALL', with args beginning with: 'now' \r\n");
  EXPECT_EQ(send("GET\r\n"), "-ERR wrong number of arguments for 'get' command\r\n");
  EXPECT_EQ(send("SET k v EX 10\r\n"), "-ERR syntax error\r\n");
  send("SET k notanumber\r\n");
  answer();
  EXPECT_EQ(session_.take_output(), "+OK\r\n");
  EXPECT_EQ(send("INCR k\r\n"), "");
  answer();
  EXPECT_EQ(session_.take_output(), "-ERR value is not an integer or out of range\r\n");
}

TEST_F(RespSessionTest, UnknownOutcomeIsAnErrorThatSaysSo) {
  send("SET k v\r\n");
  answer(false);
  EXPECT_EQ(session_.take_output(),
            "-ERR no reply from the cluster: the command may or may not have taken effect\r\n");
}

TEST_F(RespSessionTest, MalformedRequestIsAnsweredThenTheConnectionCloses) {
  EXPECT_EQ(send("*1\r\n$x\r\n").rfind("-ERR Protocol error: ", 0), 0u);
  EXPECT_TRUE(session_.closing());
  EXPECT_FALSE(session_.wants_input());
}

TEST_F(RespSessionTest, QuitClosesAfterItsReply) {
  EXPECT_EQ(send("QUIT\r\nPING\r\n"), "+OK\r\n");
  EXPECT_TRUE(session_.closing());
}

TEST_F(RespSessionTest, InputPausesWhileTooManyRepliesAreOwed) {
  std::string many;
  for (int i = 0; i < 8; i++) many += "SET k v\r\n";
  send(many);
  EXPECT_FALSE(session_.wants_input());
  answer();
  EXPECT_TRUE(session_.wants_input());
  EXPECT_EQ(session_.take_output(), [] {
    std::string oks;
    for (int i = 0; i < 8; i++) oks += "+OK\r\n";
    return oks;
  }());
}

TEST_F(RespSessionTest, SetNxAnswersNilWhenTheKeyExists) {
  send("SET k v\r\n");
  answer();
  session_.take_output();
  send("SET k w NX\r\n");
  answer();
  EXPECT_EQ(session_.take_output(), "$-1\r\n");
}

}  // namespace
}  // namespace keel::resp
