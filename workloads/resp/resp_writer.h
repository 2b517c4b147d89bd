#pragma once
// RESP2 reply encoders: each appends one reply (or an array's header) to out, so that a
// connection's pipelined replies build up in one buffer and go out in one write.

#include <cstdint>
#include <string>
#include <string_view>

namespace keel::resp {

// "+OK\r\n". A CR or LF in text is written as a space: it would end the reply early.
void simple(std::string& out, std::string_view text);

// "-ERR unknown command 'x'\r\n". The message starts with its code (ERR, WRONGTYPE, ...); a
// CR or LF in it is written as a space.
void error(std::string& out, std::string_view message);

// ":42\r\n".
void integer(std::string& out, int64_t value);

// "$5\r\nhello\r\n": any bytes.
void bulk(std::string& out, std::string_view bytes);

// "$-1\r\n": a missing value (GET of an absent key).
void null_bulk(std::string& out);

// "*3\r\n": count replies follow.
void array_header(std::string& out, uint64_t count);

// "*-1\r\n".
void null_array(std::string& out);

}  // namespace keel::resp
