# Ecosystem tests (issue 7), included at the end of tests/CMakeLists.txt:
# the interop tests get their third-party library, the docs test finds the sources, and the
# compile-level checks and consumer projects are registered.
find_package(Eigen3 3.3 REQUIRED NO_MODULE)
find_package(xtensor 0.24 REQUIRED)
if(TARGET test_interop_eigen)
  target_link_libraries(test_interop_eigen PRIVATE Eigen3::Eigen)
endif()
if(TARGET test_interop_xtensor)
  target_link_libraries(test_interop_xtensor PRIVATE xtensor)
endif()
if(TARGET test_docs)
  # Reads docs/*.md and examples/*.cpp from the checkout.
  target_compile_definitions(test_docs PRIVATE HADW_SOURCE_DIR="${PROJECT_SOURCE_DIR}")
endif()
add_subdirectory(${CMAKE_CURRENT_LIST_DIR}/compile ${CMAKE_CURRENT_BINARY_DIR}/compile)
add_subdirectory(${CMAKE_CURRENT_LIST_DIR}/consumers ${CMAKE_CURRENT_BINARY_DIR}/consumers)
# Every example runs as a test so it stays working: the trainer examples and readme_step check
# their own results (exit status); the demos must run to completion. (The examples directory is added after tests/, so its targets are named, not tested with TARGET.)
foreach(example span_trainer eigen_trainer xtensor_trainer readme_step quickstart anchor_trajectory
                objectives_demo bias_report simulate)
  if(HADW_BUILD_EXAMPLES AND EXISTS ${PROJECT_SOURCE_DIR}/examples/${example}.cpp)
    add_test(NAME example/${example} COMMAND ${example})
  endif()
endforeach()
