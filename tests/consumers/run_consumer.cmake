# Driver of the consumer tests (tests/consumers/CMakeLists.txt registers one ctest test per MODE):
#   cmake -DMODE=<install|add_subdirectory|add_subdirectory_all|fetchcontent|find_package|pkg_config>
#         -DHADW_SOURCE_DIR=<checkout> -DWORK_DIR=<scratch> -DCXX=<compiler> -DGENERATOR=<gen>
#         -P run_consumer.cmake
# install: configures the checkout on its own (no tests/examples/benchmarks), installs it into
#          WORK_DIR/prefix and checks every file of the package is there.
# others:  configure, build and run the consumer project (or, for pkg_config, compile with the
#          flags of the installed hadw.pc); the consumer program checks hadw's numbers itself.
#          add_subdirectory_all also builds and runs some of hadw's own examples, tests and
#          benchmarks from the parent project (the programs.txt it writes says which).
cmake_minimum_required(VERSION 3.21)
foreach(var MODE HADW_SOURCE_DIR WORK_DIR CXX GENERATOR)
  if(NOT DEFINED ${var})
    message(FATAL_ERROR "run_consumer.cmake: -D${var}=... required")
  endif()
endforeach()
set(consumers ${CMAKE_CURRENT_LIST_DIR})
set(prefix ${WORK_DIR}/prefix)

function(run)
  string(JOIN " " line ${ARGN})
  message(STATUS "run: ${line}")
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE rc)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "failed (${rc}): ${line}")
  endif()
endfunction()

# Configure + build + run one consumer project; extra arguments go to the configure step.
function(consume project)
  set(build ${WORK_DIR}/${project})
  file(REMOVE_RECURSE ${build})
  run(${CMAKE_COMMAND} -S ${consumers}/${project} -B ${build} -G ${GENERATOR}
      -DCMAKE_CXX_COMPILER=${CXX} -DCMAKE_BUILD_TYPE=Release ${ARGN})
  run(${CMAKE_COMMAND} --build ${build})
  run(${build}/consumer)
endfunction()

if(MODE STREQUAL "install")
  file(REMOVE_RECURSE ${WORK_DIR}/hadw-build ${prefix})
  run(${CMAKE_COMMAND} -S ${HADW_SOURCE_DIR} -B ${WORK_DIR}/hadw-build -G ${GENERATOR}
      -DCMAKE_CXX_COMPILER=${CXX} -DHADW_BUILD_TESTS=OFF -DHADW_BUILD_EXAMPLES=OFF
      -DHADW_BUILD_BENCHMARKS=OFF)  # MPI: as detected, so hadw::mpi is exported where MPI is
  run(${CMAKE_COMMAND} --build ${WORK_DIR}/hadw-build)
  run(${CMAKE_COMMAND} --install ${WORK_DIR}/hadw-build --prefix ${prefix})
  foreach(file include/hadw/hadw.hpp include/hadw/interop/eigen.hpp include/hadw/interop/xtensor.hpp
               share/cmake/hadw/hadwConfig.cmake share/cmake/hadw/hadwConfigVersion.cmake
               share/cmake/hadw/hadwTargets.cmake share/pkgconfig/hadw.pc)
    if(NOT EXISTS ${prefix}/${file})
      message(FATAL_ERROR "cmake --install did not install ${file}")
    endif()
  endforeach()
  # Header-only: nothing architecture-specific may be installed.
  file(GLOB_RECURSE binaries ${prefix}/*.a ${prefix}/*.so ${prefix}/*.o)
  if(binaries)
    message(FATAL_ERROR "binaries installed by a header-only package: ${binaries}")
  endif()
elseif(MODE STREQUAL "add_subdirectory")
  consume(add_subdirectory -DHADW_SOURCE_DIR=${HADW_SOURCE_DIR})
elseif(MODE STREQUAL "add_subdirectory_all")
  set(build ${WORK_DIR}/add_subdirectory_all)
  file(REMOVE_RECURSE ${build})
  run(${CMAKE_COMMAND} -S ${consumers}/add_subdirectory_all -B ${build} -G ${GENERATOR}
      -DCMAKE_CXX_COMPILER=${CXX} -DCMAKE_BUILD_TYPE=Release -DHADW_SOURCE_DIR=${HADW_SOURCE_DIR})
  file(STRINGS ${build}/programs.txt programs)
  set(targets)
  foreach(line IN LISTS programs)
    string(REGEX REPLACE "\\|.*" "" target "${line}")
    list(APPEND targets ${target})
  endforeach()
  run(${CMAKE_COMMAND} --build ${build} --target ${targets})
  foreach(line IN LISTS programs)
    string(REGEX REPLACE "^[^|]*\\|" "" command "${line}")
    separate_arguments(command UNIX_COMMAND "${command}")
    run(${command})
  endforeach()
elseif(MODE STREQUAL "fetchcontent")
  # What a release archive of hadw holds: the build description, the headers, the licence.
  set(archive ${WORK_DIR}/hadw-src.tar.gz)
  file(REMOVE ${archive})
  execute_process(COMMAND ${CMAKE_COMMAND} -E tar czf ${archive} CMakeLists.txt cmake include LICENSE
                  WORKING_DIRECTORY ${HADW_SOURCE_DIR} RESULT_VARIABLE rc)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "could not pack ${HADW_SOURCE_DIR}")
  endif()
  file(SHA256 ${archive} sha)
  consume(fetchcontent -DHADW_ARCHIVE=${archive} -DHADW_ARCHIVE_SHA256=${sha}
          -DFETCHCONTENT_BASE_DIR=${WORK_DIR}/fetchcontent-deps)
elseif(MODE STREQUAL "find_package")
  consume(find_package -DCMAKE_PREFIX_PATH=${prefix} -DCMAKE_FIND_USE_PACKAGE_REGISTRY=OFF)
elseif(MODE STREQUAL "pkg_config")
  find_program(pkg_config NAMES pkg-config pkgconf REQUIRED)
  set(ENV{PKG_CONFIG_PATH} ${prefix}/share/pkgconfig)
  execute_process(COMMAND ${pkg_config} --cflags hadw OUTPUT_VARIABLE cflags
                  OUTPUT_STRIP_TRAILING_WHITESPACE RESULT_VARIABLE rc)
  if(NOT rc EQUAL 0 OR NOT cflags MATCHES "-I")
    message(FATAL_ERROR "pkg-config --cflags hadw failed: '${cflags}'")
  endif()
  # hadw.pc changes nothing in the consumer's code generation; hadw::fp_strict's flag is opt-in.
  execute_process(COMMAND ${pkg_config} --variable=fp_strict_cflags hadw OUTPUT_VARIABLE fp_strict
                  OUTPUT_STRIP_TRAILING_WHITESPACE)
  if(cflags MATCHES "fp-contract" OR NOT fp_strict STREQUAL "-ffp-contract=off")
    message(FATAL_ERROR "hadw.pc: Cflags '${cflags}', fp_strict_cflags '${fp_strict}'")
  endif()
  separate_arguments(cflags UNIX_COMMAND "${cflags}")
  file(MAKE_DIRECTORY ${WORK_DIR}/pkg_config)
  run(${CXX} -std=c++20 -Wall -Wextra -Wpedantic -Werror ${cflags} ${consumers}/consumer.cpp
      -o ${WORK_DIR}/pkg_config/consumer)
  run(${WORK_DIR}/pkg_config/consumer)
else()
  message(FATAL_ERROR "run_consumer.cmake: unknown MODE '${MODE}'")
endif()
