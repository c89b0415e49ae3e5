// hadw::error and the argument checks that raise it.
#pragma once

#include <sstream>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <utility>

namespace hadw {

/// The one exception type of hadw: a bad argument. The message names the argument and says what
/// is required, e.g. "rewards.size() == layout.num_responses() required, got 96 vs 128".
class error : public std::invalid_argument {
public:
  using std::invalid_argument::invalid_argument;
};

namespace detail {

/// A message part as it is printed: 8-bit integers (std::int8_t, std::uint8_t: signed and
/// unsigned char) as numbers, where a stream would print them as characters (raw bytes).
template <class P>
[[nodiscard]] decltype(auto) printable(const P& part) {
  if constexpr (std::is_same_v<P, signed char> || std::is_same_v<P, unsigned char>)
    return static_cast<int>(part);
  else
    return (part);
}

template <class... Parts>
[[nodiscard]] std::string concat(const Parts&... parts) {
  std::ostringstream out;
  out.precision(17);
  (out << ... << printable(parts));
  return out.str();
}

/// Throws hadw::error with the concatenated message parts unless `ok`.
template <class... Parts>
void require(bool ok, const Parts&... parts) {
  if (!ok) [[unlikely]]
    throw error(concat(parts...));
}

/// "<name>.size() == <expected_name> required, got a vs b"
inline void require_size(std::size_t got, std::size_t expected, const char* name,
                         const char* expected_name) {
  require(got == expected, name, ".size() == ", expected_name, " required, got ", got, " vs ",
          expected);
}

}  // namespace detail
}  // namespace hadw
