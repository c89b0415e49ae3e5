// The message of the hadw::error a call throws, for tests that match on it.
#pragma once

#include <hadw/error.hpp>

#include <string>

namespace test_support {

/// f()'s hadw::error message, or "" when it returns normally (no message matches "").
template <class F>
std::string error_of(F&& f) {
  try {
    f();
  } catch (const hadw::error& e) {
    return e.what();
  }
  return "";
}

}  // namespace test_support
