// Which of the extension's instruction-set variants this machine can run: the import-time choice
// of hadw/_native.py is made by the baseline module, which runs everywhere.
#pragma once

#include <string>
#include <string_view>

#include <hadw/error.hpp>

namespace hadw::python {

/// Whether code built with -march=`isa` runs here: the CPU has the level's features and the OS
/// saves their registers (__builtin_cpu_supports checks both, XGETBV included). GCC >= 12 knows
/// the levels by name; elsewhere the features that set the levels apart are asked one by one.
[[nodiscard]] inline bool cpu_supports(std::string_view isa) {
  if (isa == "baseline") return true;
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
  __builtin_cpu_init();
#if defined(__GNUC__) && !defined(__clang__) && __GNUC__ >= 12
  if (isa == "x86-64-v2") return __builtin_cpu_supports("x86-64-v2");
  if (isa == "x86-64-v3") return __builtin_cpu_supports("x86-64-v3");
  if (isa == "x86-64-v4") return __builtin_cpu_supports("x86-64-v4");
#else
  const bool v2 = __builtin_cpu_supports("sse3") && __builtin_cpu_supports("ssse3") &&
                  __builtin_cpu_supports("sse4.1") && __builtin_cpu_supports("sse4.2") &&
                  __builtin_cpu_supports("popcnt");
  const bool v3 = v2 && __builtin_cpu_supports("avx") && __builtin_cpu_supports("avx2") &&
                  __builtin_cpu_supports("fma") && __builtin_cpu_supports("bmi") &&
                  __builtin_cpu_supports("bmi2");
  const bool v4 = v3 && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
                  __builtin_cpu_supports("avx512cd") && __builtin_cpu_supports("avx512dq") &&
                  __builtin_cpu_supports("avx512vl");
  if (isa == "x86-64-v2") return v2;
  if (isa == "x86-64-v3") return v3;
  if (isa == "x86-64-v4") return v4;
#endif
#endif
  throw error(detail::concat("isa: 'baseline', 'x86-64-v2', 'x86-64-v3' or 'x86-64-v4' required, "
                             "got '", isa, "'"));
}

[[nodiscard]] inline std::string compiler_name() {
#if defined(__clang__)
  return detail::concat("clang ", __clang_major__, ".", __clang_minor__, ".", __clang_patchlevel__);
#elif defined(__GNUC__)
  return detail::concat("gcc ", __GNUC__, ".", __GNUC_MINOR__, ".", __GNUC_PATCHLEVEL__);
#else
  return "unknown";
#endif
}

}  // namespace hadw::python
