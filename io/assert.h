#pragma once
// Assertions stay on in every build type: a protocol that runs on past a broken invariant
// corrupts data. A failed assertion calls the installed failure handler (the simulator uses it
// to close its trace and exit with the crash code) and then aborts.

#include <cstdint>

namespace keel::io {

using AssertionHandler = void (*)(const char* message);

// Installs the handler called once, before abort, when an assertion fails. Not thread-safe:
// install it at start-up.
void set_assertion_handler(AssertionHandler handler);

[[noreturn]] void assertion_failed(const char* expression, const char* file, int line);

}  // namespace keel::io

#define KEEL_ASSERT(condition)                                      \
  do {                                                              \
    if (!(condition)) [[unlikely]] {                                \
      ::keel::io::assertion_failed(#condition, __FILE__, __LINE__); \
    }                                                               \
  } while (0)
