# CUDA backend (opt-in, HADW_ENABLE_CUDA): hadw::cuda = hadw::hadw + the CUDA runtime, for
# include/hadw/backend/cuda.cuh; for the top-level project also the CUDA tests (tests/cuda) and
# benchmarks (bench/cuda). Included from the top-level CMakeLists.txt only when the option is ON.
#
# Architectures: CMAKE_CUDA_ARCHITECTURES, default "80;90" (A100 and H100/H200); override with
# -DCMAKE_CUDA_ARCHITECTURES=... (e.g. "native" on a machine with a GPU).

include(CheckLanguage)
check_language(CUDA)
if(NOT CMAKE_CUDA_COMPILER)
  message(FATAL_ERROR
    "HADW_ENABLE_CUDA=ON requires a CUDA compiler, and CMake found none. Install the CUDA "
    "toolkit and put nvcc on PATH (or pass -DCMAKE_CUDA_COMPILER=/path/to/nvcc), or configure "
    "with -DHADW_ENABLE_CUDA=OFF.")
endif()
if(NOT DEFINED CMAKE_CUDA_ARCHITECTURES)
  set(CMAKE_CUDA_ARCHITECTURES "80;90" CACHE STRING "CUDA architectures hadw's CUDA targets are built for")
endif()
enable_language(CUDA)
find_package(CUDAToolkit REQUIRED)

add_library(hadw_cuda INTERFACE)
add_library(hadw::cuda ALIAS hadw_cuda)
target_link_libraries(hadw_cuda INTERFACE hadw::hadw CUDA::cudart)
# A policy without HADW_HOST_DEVICE called from the kernels is a host function called from
# device code: nvcc only warns (#20011/#20014) and the call does not happen on the device. hadw
# makes that one diagnostic an error (tests/cuda/fail/host_only_policy.cu).
target_compile_options(hadw_cuda INTERFACE
                       "$<$<COMPILE_LANGUAGE:CUDA>:SHELL:-Xcudafe --diag_error=20011>"
                       "$<$<COMPILE_LANGUAGE:CUDA>:SHELL:-Xcudafe --diag_error=20014>")
if(DEFINED CMAKE_CUDA20_STANDARD_COMPILE_OPTION)
  target_compile_features(hadw_cuda INTERFACE cuda_std_20)
else()  # CMake < 3.26 knows no C++20 for nvcc (cuda_std_20 is "not known"): ask nvcc directly
  target_compile_options(hadw_cuda INTERFACE $<$<COMPILE_LANGUAGE:CUDA>:-std=c++20>)
endif()
hadw_install_component(hadw_cuda cuda)  # hadwCudaTargets.cmake

# `cmake --build <dir> --target hadw_cuda_all`: every CUDA test and benchmark, and nothing else
# (what scripts/test.d/60-cuda.sh builds).
add_custom_target(hadw_cuda_all)
if(HADW_BUILD_TESTS)
  add_subdirectory(${PROJECT_SOURCE_DIR}/tests/cuda ${PROJECT_BINARY_DIR}/tests/cuda)
endif()
if(HADW_BUILD_BENCHMARKS)
  add_subdirectory(${PROJECT_SOURCE_DIR}/bench/cuda ${PROJECT_BINARY_DIR}/bench/cuda)
endif()
