# cmake -DMPIEXEC=... -DMPIEXEC_ARGS=a;b -DPROGRAM=... -DPROGRAM_ARGS=x;y -P compare_runs.cmake
#
# Runs PROGRAM once as a single plain process and once under MPIEXEC; both must exit 0 and print
# the same "anchor state: <hex>" line (the saved anchor, byte for byte).
foreach(var MPIEXEC PROGRAM)
  if(NOT DEFINED ${var})
    message(FATAL_ERROR "compare_runs.cmake: -D${var}=... required")
  endif()
endforeach()

function(run_and_extract label out_var)
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
  message(STATUS "${label}: ${ARGN}\n${out}${err}")
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "${label} run failed with exit status ${rc}")
  endif()
  string(REGEX MATCH "anchor state: ([0-9a-f]+)" line "${out}")
  if(NOT line)
    message(FATAL_ERROR "${label} run printed no 'anchor state:' line")
  endif()
  set(${out_var} "${CMAKE_MATCH_1}" PARENT_SCOPE)
endfunction()

run_and_extract("single process" single ${PROGRAM} ${PROGRAM_ARGS})
run_and_extract("mpirun" distributed ${MPIEXEC} ${MPIEXEC_ARGS} ${PROGRAM} ${PROGRAM_ARGS})
if(NOT single STREQUAL distributed)
  message(FATAL_ERROR "anchor state differs:\n  single process: ${single}\n  mpirun:         ${distributed}")
endif()
message(STATUS "anchor states identical: ${single}")
