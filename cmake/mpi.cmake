# MPI interop (opt-in): hadw::mpi = hadw::hadw + MPI::MPI_CXX for include/hadw/interop/mpi.hpp,
# plus, for the top-level project, examples/distributed_trainer.cpp and its mpirun tests (tests/mpi).
#
# HADW_ENABLE_MPI defaults to ON only when hadw is the top-level project and CMake's FindMPI finds
# an MPI (Debian: openmpi-bin + libopenmpi-dev). Set it ON explicitly to make MPI a hard requirement.

set(hadw_mpi_default OFF)
if(PROJECT_IS_TOP_LEVEL AND NOT DEFINED HADW_ENABLE_MPI)
  set(MPI_CXX_SKIP_MPICXX ON)  # the MPI-2 C++ bindings were removed in MPI-3; hadw uses the C API
  find_package(MPI QUIET COMPONENTS CXX)
  if(MPI_CXX_FOUND)
    set(hadw_mpi_default ON)
  endif()
endif()
option(HADW_ENABLE_MPI "Build hadw::mpi (include/hadw/interop/mpi.hpp) and its example and tests"
       ${hadw_mpi_default})

if(HADW_ENABLE_MPI)
  set(MPI_CXX_SKIP_MPICXX ON)
  find_package(MPI REQUIRED COMPONENTS CXX)
  add_library(hadw_mpi INTERFACE)
  add_library(hadw::mpi ALIAS hadw_mpi)
  target_link_libraries(hadw_mpi INTERFACE hadw::hadw MPI::MPI_CXX)
  hadw_install_component(hadw_mpi mpi)  # hadwMpiTargets.cmake

  if(HADW_BUILD_EXAMPLES OR HADW_BUILD_TESTS)
    # examples/CMakeLists.txt leaves this one out of its glob: it needs MPI.
    add_executable(distributed_trainer ${PROJECT_SOURCE_DIR}/examples/distributed_trainer.cpp)
    target_link_libraries(distributed_trainer PRIVATE hadw::mpi hadw_warnings)
  endif()
  if(HADW_BUILD_TESTS)
    add_subdirectory(${PROJECT_SOURCE_DIR}/tests/mpi ${PROJECT_BINARY_DIR}/tests/mpi)
  endif()
endif()
