#include "io/assert.h"

#include <cstdio>
#include <cstdlib>

namespace keel::io {
namespace {
AssertionHandler assertion_handler = nullptr;
}

void set_assertion_handler(AssertionHandler handler) { assertion_handler = handler; }

void assertion_failed(const char* expression, const char* file, int line) {
  char message[512];
  std::snprintf(message, sizeof(message), "assertion failed: %s at %s:%d", expression, file, line);
  std::fprintf(stderr, "%s\n", message);
  if (assertion_handler != nullptr) {
    AssertionHandler handler = assertion_handler;
    assertion_handler = nullptr;  // An assertion inside the handler must not recurse.
    handler(message);
  }
  std::abort();
}

}  // namespace keel::io
