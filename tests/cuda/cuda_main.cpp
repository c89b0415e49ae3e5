// Catch2 main of the CUDA tests: without a usable CUDA device they skip, visibly.
#define CATCH_CONFIG_RUNNER
#include <catch2/catch.hpp>

#include <cuda_runtime.h>

#include <cstdio>

int main(int argc, char** argv) {
  int devices = 0;
  const cudaError_t e = cudaGetDeviceCount(&devices);
  if (e != cudaSuccess || devices == 0) {
    std::printf("no CUDA device: skipping device tests (%s)\n",
                e != cudaSuccess ? cudaGetErrorString(e) : "0 devices");
    std::fflush(stdout);
    return 77;  // ctest's SKIP_RETURN_CODE: reported as Skipped, not Passed
  }
  return Catch::Session().run(argc, argv);
}
