// Words to KV commands and results to text, as `keel client` and the RESP door use them.

#include "workloads/kv/text_command.h"

#include <gtest/gtest.h>

namespace keel::kv {
namespace {

proto::Command parsed(const std::vector<std::string>& words) {
  proto::Command command;
  std::string error;
  EXPECT_TRUE(parse_text_command(words, command, error)) << error;
  return command;
}

std::string refused(const std::vector<std::string>& words) {
  proto::Command command;
  std::string error;
  EXPECT_FALSE(parse_text_command(words, command, error));
  return error;
}

TEST(TextCommand, EachVerbInAnyCase) {
  EXPECT_EQ(parsed({"SET", "k", "v"}).set().value(), "v");
  EXPECT_EQ(parsed({"get", "k"}).get(), "k");
  EXPECT_EQ(parsed({"Del", "a", "b"}).del().keys_size(), 2);
  EXPECT_EQ(parsed({"exists", "a"}).exists().keys(0), "a");
  EXPECT_EQ(parsed({"incr", "n"}).incr_by().delta(), 1);
  EXPECT_EQ(parsed({"incrby", "n", "-5"}).incr_by().delta(), -5);
  EXPECT_EQ(parsed({"mset", "a", "1", "b", "2"}).mset().pairs(1).value(), "2");
  EXPECT_EQ(parsed({"mget", "a", "b"}).mget().keys_size(), 2);
  EXPECT_EQ(parsed({"append", "k", "x"}).append().value(), "x");
  EXPECT_EQ(parsed({"strlen", "k"}).strlen(), "k");
  EXPECT_EQ(parsed({"set", "k", "v", "NX"}).set().condition(), proto::IF_ABSENT);
  EXPECT_EQ(parsed({"set", "k", "v", "xx"}).set().condition(), proto::IF_PRESENT);
  EXPECT_EQ(parsed({"decr", "n"}).incr_by().delta(), -1);
  EXPECT_EQ(parsed({"decrby", "n", "4"}).incr_by().delta(), -4);
  EXPECT_TRUE(parsed({"DBSIZE"}).dbsize());
}

TEST(TextCommand, WordsOfACommandParseBackToIt) {
  const std::vector<std::vector<std::string>> examples = {
      {"SET", "k", "v"},    {"SET", "k", "v", "NX"}, {"GET", "k"},       {"DEL", "a", "b"},
      {"EXISTS", "a"},      {"INCRBY", "n", "-3"},   {"MSET", "a", "1"}, {"MGET", "a", "b"},
      {"APPEND", "k", "x"}, {"STRLEN", "k"},         {"DBSIZE"}};
  for (const auto& words : examples) {
    const proto::Command command = parsed(words);
    EXPECT_EQ(command_words(command), words);
    EXPECT_EQ(parsed(command_words(command)).SerializeAsString(), command.SerializeAsString());
  }
}

TEST(TextCommand, BadWordsAreRefusedWithTheReason) {
  EXPECT_EQ(refused({}), "no command given");
  EXPECT_EQ(refused({"set", "k"}), "wrong number of arguments for 'set' command");
  EXPECT_EQ(refused({"mset", "a", "1", "b"}), "wrong number of arguments for 'mset' command");
  EXPECT_EQ(refused({"del"}), "wrong number of arguments for 'del' command");
  EXPECT_EQ(refused({"set", "k", "v", "nx", "xx"}), "syntax error");
  EXPECT_EQ(refused({"set", "k", "v", "ex", "10"}), "syntax error");
  EXPECT_EQ(refused({"decrby", "n", "-9223372036854775808"}),
            "value is not an integer or out of range");
  EXPECT_EQ(refused({"incrby", "n", "ten"}), "value is not an integer or out of range");
  EXPECT_NE(refused({"flushall"}).find("unknown command 'flushall'"), std::string::npos);
}

TEST(TextCommand, ResultsReadLikeRedisCli) {
  proto::Result result;
  result.set_ok(true);
  EXPECT_EQ(format_result(result), "OK");
  result.mutable_value()->set_found(false);
  EXPECT_EQ(format_result(result), "(nil)");
  result.mutable_value()->set_found(true);
  result.mutable_value()->set_value("v");
  EXPECT_EQ(format_result(result), "\"v\"");
  result.set_integer(3);
  EXPECT_EQ(format_result(result), "(integer) 3");
  result.mutable_values()->add_values()->set_found(false);
  result.mutable_values()->add_values()->set_value("x");
  result.mutable_values()->mutable_values(1)->set_found(true);
  EXPECT_EQ(format_result(result), "1) (nil)\n2) \"x\"");
  result.mutable_error()->set_message("value is too large");
  EXPECT_EQ(format_result(result), "(error) value is too large");
}

}  // namespace
}  // namespace keel::kv
