#include "workloads/resp/resp_writer.h"

#include <fmt/format.h>

#include <iterator>

namespace keel::resp {

namespace {

// Simple strings and errors end at the first CR or LF: a message holding one would end early,
// and the client would read the rest as a reply of its own and be out of step from then on.
void line(std::string& out, char type, std::string_view text) {
  out.push_back(type);
  for (const char c : text) out.push_back(c == '\r' || c == '\n' ? ' ' : c);
  out.append("\r\n");
}

}  // namespace

void simple(std::string& out, std::string_view text) { line(out, '+', text); }

void error(std::string& out, std::string_view message) { line(out, '-', message); }

void integer(std::string& out, int64_t value) {
  fmt::format_to(std::back_inserter(out), ":{}\r\n", value);
}

void bulk(std::string& out, std::string_view bytes) {
  fmt::format_to(std::back_inserter(out), "${}\r\n", bytes.size());
  out.append(bytes);
  out.append("\r\n");
}

void null_bulk(std::string& out) { out.append("$-1\r\n"); }

void array_header(std::string& out, uint64_t count) {
  fmt::format_to(std::back_inserter(out), "*{}\r\n", count);
}

void null_array(std::string& out) { out.append("*-1\r\n"); }

}  // namespace keel::resp
