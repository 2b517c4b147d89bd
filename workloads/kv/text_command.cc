#include "workloads/kv/text_command.h"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>

#include "io/assert.h"
#include "workloads/kv/state_machine.h"

namespace keel::kv {

namespace {

std::string lowercase(std::string text) {
  std::transform(text.begin(), text.end(), text.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return text;
}

// Redis's wording, so that clients and people see the messages they know.
bool arity_error(const std::string& verb, std::string& error) {
  error = fmt::format("wrong number of arguments for '{}' command", verb);
  return false;
}

bool syntax_error(std::string& error) {
  error = "syntax error";
  return false;
}

bool parse_delta(const std::string& text, int64_t& delta, std::string& error) {
  if (StateMachine::parse_integer(text, delta)) return true;
  error = "value is not an integer or out of range";
  return false;
}

// SET key value [NX | XX]
bool parse_set(std::span<const std::string> words, proto::Command& command, std::string& error) {
  if (words.size() < 3) return arity_error("set", error);
  proto::KeyValue* pair = command.mutable_set();
  pair->set_key(words[1]);
  pair->set_value(words[2]);
  for (size_t i = 3; i < words.size(); i++) {
    const std::string option = lowercase(words[i]);
    const proto::SetCondition condition = option == "nx"   ? proto::IF_ABSENT
                                          : option == "xx" ? proto::IF_PRESENT
                                                           : proto::ALWAYS;
    if (condition == proto::ALWAYS || pair->condition() != proto::ALWAYS) {
      return syntax_error(error);
    }
    pair->set_condition(condition);
  }
  return true;
}

// INCR, INCRBY, DECR, DECRBY: one command, INCRBY, with a signed delta.
bool parse_incr(const std::string& verb, std::span<const std::string> words,
                proto::Command& command, std::string& error) {
  const bool by = verb == "incrby" || verb == "decrby";
  if (words.size() != (by ? 3u : 2u)) return arity_error(verb, error);
  int64_t delta = 1;
  if (by && !parse_delta(words[2], delta, error)) return false;
  if (verb[0] == 'd') {
    // -INT64_MIN does not exist; Redis refuses it the same way.
    if (delta == INT64_MIN) {
      error = "value is not an integer or out of range";
      return false;
    }
    delta = -delta;
  }
  command.mutable_incr_by()->set_key(words[1]);
  command.mutable_incr_by()->set_delta(delta);
  return true;
}

void add_keys(std::span<const std::string> words, proto::Keys& keys) {
  for (size_t i = 1; i < words.size(); i++) keys.add_keys(words[i]);
}

std::string quoted(const std::string& value) { return fmt::format("\"{}\"", value); }

std::string optional_value(const proto::OptionalValue& value) {
  return value.found() ? quoted(value.value()) : "(nil)";
}

}  // namespace

bool parse_text_command(std::span<const std::string> words, proto::Command& command,
                        std::string& error) {
  if (words.empty()) {
    command.Clear();
    error = "no command given";
    return false;
  }
  return parse_text_command(lowercase(words[0]), words, command, error);
}

bool parse_text_command(const std::string& verb, std::span<const std::string> words,
                        proto::Command& command, std::string& error) {
  KEEL_ASSERT(!words.empty() && verb.size() == words[0].size());
  command.Clear();
  const size_t arguments = words.size() - 1;
  if (verb == "set") return parse_set(words, command, error);
  if (verb == "incr" || verb == "incrby" || verb == "decr" || verb == "decrby") {
    return parse_incr(verb, words, command, error);
  }
  if (verb == "append") {
    if (arguments != 2) return arity_error(verb, error);
    command.mutable_append()->set_key(words[1]);
    command.mutable_append()->set_value(words[2]);
  } else if (verb == "get" || verb == "strlen") {
    if (arguments != 1) return arity_error(verb, error);
    verb == "get" ? command.set_get(words[1]) : command.set_strlen(words[1]);
  } else if (verb == "del" || verb == "exists" || verb == "mget") {
    if (arguments == 0) return arity_error(verb, error);
    add_keys(words, verb == "del"      ? *command.mutable_del()
                    : verb == "exists" ? *command.mutable_exists()
                                       : *command.mutable_mget());
  } else if (verb == "dbsize") {
    if (arguments != 0) return arity_error(verb, error);
    command.set_dbsize(true);
  } else if (verb == "mset") {
    if (arguments == 0 || arguments % 2 != 0) return arity_error(verb, error);
    for (size_t i = 1; i + 1 < words.size(); i += 2) {
      proto::KeyValue* pair = command.mutable_mset()->add_pairs();
      pair->set_key(words[i]);
      pair->set_value(words[i + 1]);
    }
  } else {
    error = fmt::format(
        "unknown command '{}' (known: set get del exists incr incrby mset mget "
        "append strlen)",
        words[0]);
    return false;
  }
  return true;
}

std::vector<std::string> command_words(const proto::Command& command) {
  std::vector<std::string> words;
  auto keys = [&words](const char* verb, const proto::Keys& list) {
    words.push_back(verb);
    words.insert(words.end(), list.keys().begin(), list.keys().end());
  };
  switch (command.command_case()) {
    case proto::Command::kSet:
      words = {"SET", command.set().key(), command.set().value()};
      if (command.set().condition() == proto::IF_ABSENT) words.push_back("NX");
      if (command.set().condition() == proto::IF_PRESENT) words.push_back("XX");
      break;
    case proto::Command::kGet:
      words = {"GET", command.get()};
      break;
    case proto::Command::kDel:
      keys("DEL", command.del());
      break;
    case proto::Command::kExists:
      keys("EXISTS", command.exists());
      break;
    case proto::Command::kIncrBy:
      words = {"INCRBY", command.incr_by().key(), std::to_string(command.incr_by().delta())};
      break;
    case proto::Command::kMset:
      words.push_back("MSET");
      for (const proto::KeyValue& pair : command.mset().pairs()) {
        words.push_back(pair.key());
        words.push_back(pair.value());
      }
      break;
    case proto::Command::kMget:
      keys("MGET", command.mget());
      break;
    case proto::Command::kAppend:
      words = {"APPEND", command.append().key(), command.append().value()};
      break;
    case proto::Command::kStrlen:
      words = {"STRLEN", command.strlen()};
      break;
    case proto::Command::kDbsize:
      words = {"DBSIZE"};
      break;
    case proto::Command::kBatch:
    case proto::Command::COMMAND_NOT_SET:
      break;
  }
  return words;
}

std::string format_result(const proto::Result& result) {
  switch (result.result_case()) {
    case proto::Result::kOk:
      return "OK";
    case proto::Result::kValue:
      return optional_value(result.value());
    case proto::Result::kInteger:
      return fmt::format("(integer) {}", result.integer());
    case proto::Result::kValues: {
      std::string out;
      for (int i = 0; i < result.values().values_size(); i++) {
        if (i > 0) out += "\n";
        out += fmt::format("{}) {}", i + 1, optional_value(result.values().values(i)));
      }
      return out.empty() ? "(empty array)" : out;
    }
    case proto::Result::kError:
      return fmt::format("(error) {}", result.error().message());
    case proto::Result::kResults: {
      std::string out;
      for (int i = 0; i < result.results().results_size(); i++) {
        out += fmt::format("{}{}) {}", i > 0 ? "\n" : "", i + 1,
                           format_result(result.results().results(i)));
      }
      return out;
    }
    case proto::Result::RESULT_NOT_SET:
      break;
  }
  return "(error) empty result";
}

}  // namespace keel::kv
