#pragma once
// KV commands as words, the way a person types them (`keel client set k v`) and the RESP front
// door receives them: SET [NX|XX] GET DEL EXISTS INCR INCRBY DECR DECRBY MSET MGET APPEND
// STRLEN DBSIZE, verbs in any case. Errors use Redis's wording.

#include <span>
#include <string>
#include <vector>

#include "workloads/kv/kv.pb.h"

namespace keel::kv {

// False with error set ("wrong number of arguments for 'set' command", say) if the words are no
// KV command.
bool parse_text_command(std::span<const std::string> words, proto::Command& command,
                        std::string& error);
// The same, for a caller that has already lowercased the verb (words[0]) to dispatch on it.
bool parse_text_command(const std::string& verb_lowercase, std::span<const std::string> words,
                        proto::Command& command, std::string& error);

// The words of a command (not a batch), as parse_text_command reads them back: the simulator's
// RESP workload sends what its KV workload draws.
std::vector<std::string> command_words(const proto::Command& command);

// A result in redis-cli's style: OK, "value", (nil), (integer) 3, numbered lines for MGET,
// (error) ... for errors.
std::string format_result(const proto::Result& result);

}  // namespace keel::kv
