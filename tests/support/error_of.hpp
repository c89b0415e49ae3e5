// The message of the hadw::error a call throws, for tests that match on it.
#pragma once

#include <hadw/error.hpp>

#include <string>

namespace test_support {

/// f()'s hadw::error message, or "no hadw::error" when it returns normally.
template <class F>
std::string error_of(F&& f) {
  try {
    f();
  } catch (const hadw::error& e) {
    return e.what();
  }
  return "no hadw::error";
}

}  // namespace test_support
