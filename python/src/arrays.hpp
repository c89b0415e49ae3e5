// Checked, zero-copy views of the arrays a Python caller hands in (NumPy, PyTorch, anything with
// DLPack). Every check names the argument, so a wrong dtype, shape, device or layout surfaces as
// "rewards: float32 or float64 required, got int64" instead of nanobind's generic signature list.
//
// Why untyped nb::ndarray<> instead of nb::ndarray<float, nb::c_contig, ...>: a typed ndarray lets
// nanobind *convert* a mismatching input implicitly (a silent copy), which for an output buffer
// means the result goes to a temporary and is lost. Untyped arrays are never converted: what the
// kernel reads and writes is the caller's memory, verified here.
#pragma once

#include <hadw/error.hpp>

#include <nanobind/nanobind.h>
#include <nanobind/ndarray.h>

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>

namespace hadw::python {

namespace nb = nanobind;

/// An input: read-only arrays (e.g. NumPy with writeable=False) are accepted.
using in_array = nb::ndarray<nb::ro>;
/// An output: must be writable.
using out_array = nb::ndarray<>;

enum class element : std::uint8_t { f32, f64, i64, mask };  // mask: uint8 or bool

template <class A>
[[nodiscard]] inline std::string dtype_name(const A& a) {
  const auto d = a.dtype();
  const char* code = "?";
  switch (static_cast<nb::dlpack::dtype_code>(d.code)) {
    case nb::dlpack::dtype_code::Int: code = "int"; break;
    case nb::dlpack::dtype_code::UInt: code = "uint"; break;
    case nb::dlpack::dtype_code::Float: code = "float"; break;
    case nb::dlpack::dtype_code::Bfloat: code = "bfloat"; break;
    case nb::dlpack::dtype_code::Complex: code = "complex"; break;
    case nb::dlpack::dtype_code::Bool: return "bool";
    default: break;
  }
  return std::string(code) + std::to_string(d.bits);
}

template <class A>
[[nodiscard]] inline bool has(const A& a, element e) {
  const auto d = a.dtype();
  switch (e) {
    case element::f32: return d == nb::dtype<float>();
    case element::f64: return d == nb::dtype<double>();
    case element::i64: return d == nb::dtype<std::int64_t>();
    case element::mask: return d == nb::dtype<std::uint8_t>() || d == nb::dtype<bool>();
  }
  return false;
}

[[nodiscard]] inline const char* required_name(element e) {
  switch (e) {
    case element::f32: return "float32";
    case element::f64: return "float64";
    case element::i64: return "int64";
    case element::mask: return "bool or uint8";
  }
  return "?";
}

/// Device, rank, C-contiguity and (optionally) size checks shared by inputs and outputs. Raises
/// ValueError naming `name`.
template <class A>
void check_layout(const A& a, const char* name, std::size_t ndim) {
  if (a.device_type() != nb::device::cpu::value)
    throw nb::value_error(detail::concat(
                              name, ": a CPU array required, got device type ", a.device_type(),
                              " (this build of hadw has no CUDA backend; call .cpu() first)")
                              .c_str());
  if (a.ndim() != ndim)
    throw nb::value_error(
        detail::concat(name, ": a ", ndim, "-D array required, got ", a.ndim(), "-D").c_str());
  // C order: the last axis has stride 1 and each earlier one spans the later ones. Axes of
  // extent 1 may carry any stride (NumPy and torch both produce such arrays), and so may an
  // empty array (NumPy 2 gives them stride 0): it has no element to misplace.
  if (a.size() == 0) return;
  std::int64_t expected = 1;
  for (std::size_t k = ndim; k-- > 0;) {
    if (a.shape(k) != 1 && a.stride(k) != expected)
      throw nb::value_error(
          detail::concat(name, ": a C-contiguous array required (got stride ", a.stride(k),
                         " on axis ", k, ", ", expected,
                         " expected); pass .contiguous() / np.ascontiguousarray(...)")
              .c_str());
    expected *= static_cast<std::int64_t>(a.shape(k));
  }
}

/// Raises TypeError naming `name` unless `a` holds `e`.
template <class A>
void check_dtype(const A& a, const char* name, element e) {
  if (!has(a, e))
    throw nb::type_error(
        detail::concat(name, ": ", required_name(e), " required, got ", dtype_name(a)).c_str());
}

/// Raises TypeError naming `name` unless `a` is float32 or float64.
template <class A>
void check_float(const A& a, const char* name) {
  if (!has(a, element::f32) && !has(a, element::f64))
    throw nb::type_error(
        detail::concat(name, ": float32 or float64 required, got ", dtype_name(a)).c_str());
}

template <class A>
void check_extent(const A& a, const char* name, std::size_t axis, std::size_t expected,
                  const char* expected_name) {
  if (a.shape(axis) != expected)
    throw nb::value_error(detail::concat(name, ".shape[", axis, "] == ", expected_name,
                                         " required, got ", a.shape(axis), " vs ", expected)
                              .c_str());
}

/// Raises TypeError naming `name` unless `a` has the dtype of `ref` (named `ref_name`).
template <class A, class B>
void check_same_dtype(const A& a, const char* name, const B& ref, const char* ref_name) {
  if (a.dtype() != ref.dtype())
    throw nb::type_error(detail::concat(name, ": the dtype of ", ref_name, " (", dtype_name(ref),
                                        ") required, got ", dtype_name(a))
                             .c_str());
}

/// Raises ValueError unless the output `out` and the array `a` occupy disjoint bytes: a kernel
/// that writes one while it reads the other would read values it has already overwritten (a
/// silently wrong result). `same_ok`: the very same array is allowed (an in-place estimate).
template <class A, class B>
void check_disjoint(const A& a, const char* a_name, const B& out, const char* out_name,
                    bool same_ok = false) {
  const auto* p = static_cast<const unsigned char*>(a.data());
  const auto* q = static_cast<const unsigned char*>(out.data());
  const std::size_t pn = a.size() * a.itemsize(), qn = out.size() * out.itemsize();
  if (pn == 0 || qn == 0 || p + pn <= q || q + qn <= p) return;
  if (same_ok && p == q && pn == qn && a.dtype() == out.dtype()) return;
  throw nb::value_error(detail::concat(out_name, " and ", a_name,
                                       " must not overlap in memory (", out_name,
                                       " is written while ", a_name, " is read)")
                            .c_str());
}

/// The elements of a checked array as a span (no copy). bool and uint8 share one byte per element
/// with values 0/1, so a torch.bool mask is read as uint8.
template <class T>
[[nodiscard]] std::span<const T> view(const in_array& a) {
  return {static_cast<const T*>(a.data()), a.size()};
}
template <class T>
[[nodiscard]] std::span<T> view(const out_array& a) {
  return {static_cast<T*>(a.data()), a.size()};
}

/// An optional per-response mask of n entries (bool/uint8), or an empty span.
[[nodiscard]] inline std::span<const std::uint8_t> optional_mask(const in_array* a, const char* name,
                                                                 std::size_t n) {
  if (!a) return {};
  check_layout(*a, name, 1);
  check_dtype(*a, name, element::mask);
  check_extent(*a, name, 0, n, "len(rewards)");
  return view<std::uint8_t>(*a);
}

/// Optional per-response int64 lengths of n entries, or an empty span.
[[nodiscard]] inline std::span<const std::int64_t> optional_lengths(const in_array* a,
                                                                    const char* name,
                                                                    std::size_t n) {
  if (!a) return {};
  check_layout(*a, name, 1);
  check_dtype(*a, name, element::i64);
  check_extent(*a, name, 0, n, "len(rewards)");
  return view<std::int64_t>(*a);
}

}  // namespace hadw::python
