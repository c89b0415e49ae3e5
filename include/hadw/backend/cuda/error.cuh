// CUDA runtime failures: hadw::cuda_error, thrown with the file and line of the failing call.
#pragma once

#include <hadw/error.hpp>

#include <cuda_runtime.h>

#include <stdexcept>
#include <string>

namespace hadw {

/// A CUDA runtime call failed (out of memory, a kernel fault, no device, ...). Not an argument
/// error, so not a hadw::error: a std::runtime_error whose message names the call, the CUDA error
/// and where it was made.
class cuda_error : public std::runtime_error {
 public:
  cuda_error(cudaError_t code, const std::string& what) : std::runtime_error(what), code_(code) {}
  [[nodiscard]] cudaError_t code() const noexcept { return code_; }

 private:
  cudaError_t code_;
};

namespace detail::cuda {

inline void check(cudaError_t code, const char* call, const char* file, int line) {
  if (code != cudaSuccess) [[unlikely]]
    throw cuda_error(code, concat(call, " failed: ", cudaGetErrorName(code), " (",
                                  cudaGetErrorString(code), ") at ", file, ":", line));
}

}  // namespace detail::cuda
}  // namespace hadw

/// Throws hadw::cuda_error with file and line unless `call` returns cudaSuccess.
#define HADW_CUDA_CHECK(call) ::hadw::detail::cuda::check((call), #call, __FILE__, __LINE__)
