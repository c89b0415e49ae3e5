# Install and export rules: `cmake --install` puts the headers under <prefix>/include, and
#   <prefix>/share/cmake/hadw/{hadwConfig,hadwConfigVersion,hadwTargets}.cmake   (find_package)
#   <prefix>/share/pkgconfig/hadw.pc                                            (pkg-config)
# Header-only, so the package is architecture-independent (share/, ARCH_INDEPENDENT) and
# relocatable: nothing in it records the prefix it was installed to.
#
# HADW_INSTALL defaults to being the top-level project, as {fmt}'s FMT_INSTALL: a project that
# vendors hadw with add_subdirectory/FetchContent does not install hadw unless it asks to.
include(GNUInstallDirs)
include(CMakePackageConfigHelpers)

set(HADW_INSTALL_CMAKEDIR "${CMAKE_INSTALL_DATADIR}/cmake/hadw"
    CACHE STRING "Where hadwConfig.cmake goes, relative to the install prefix")
option(HADW_INSTALL "Generate hadw's install and export rules" ${PROJECT_IS_TOP_LEVEL})

# An opt-in target (hadw::mpi, hadw::cuda) goes into an export file of its own,
# hadw<Name>Targets.cmake, which hadwConfig.cmake loads only where the consumer has the
# dependency too: finding hadw never requires MPI or CUDA.
function(hadw_install_component target export_name)
  if(HADW_INSTALL)
    set_target_properties(${target} PROPERTIES EXPORT_NAME ${export_name})
    install(TARGETS ${target} EXPORT hadw_${export_name}_targets)
    string(SUBSTRING ${export_name} 0 1 first)
    string(SUBSTRING ${export_name} 1 -1 rest)
    string(TOUPPER ${first} first)
    install(EXPORT hadw_${export_name}_targets NAMESPACE hadw:: FILE hadw${first}${rest}Targets.cmake
            DESTINATION ${HADW_INSTALL_CMAKEDIR})
  endif()
endfunction()

if(NOT HADW_INSTALL)
  return()
endif()

set(HADW_INSTALL_PKGCONFIGDIR "${CMAKE_INSTALL_DATADIR}/pkgconfig"
    CACHE STRING "Where hadw.pc goes, relative to the install prefix")

install(TARGETS hadw hadw_fp_strict EXPORT hadwTargets)  # hadw::hadw, hadw::fp_strict (opt-in)
install(DIRECTORY ${PROJECT_SOURCE_DIR}/include/hadw DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}
        FILES_MATCHING PATTERN "*.hpp" PATTERN "*.cuh")
install(EXPORT hadwTargets NAMESPACE hadw:: FILE hadwTargets.cmake
        DESTINATION ${HADW_INSTALL_CMAKEDIR})

configure_package_config_file(${CMAKE_CURRENT_LIST_DIR}/hadwConfig.cmake.in
                              ${PROJECT_BINARY_DIR}/hadwConfig.cmake
                              INSTALL_DESTINATION ${HADW_INSTALL_CMAKEDIR})
# 0.x: SameMajorVersion means "any 0.y >= the one asked for"; an API break bumps the major.
write_basic_package_version_file(${PROJECT_BINARY_DIR}/hadwConfigVersion.cmake
                                 COMPATIBILITY SameMajorVersion ARCH_INDEPENDENT)
install(FILES ${PROJECT_BINARY_DIR}/hadwConfig.cmake ${PROJECT_BINARY_DIR}/hadwConfigVersion.cmake
        DESTINATION ${HADW_INSTALL_CMAKEDIR})

# pkg-config: paths relative to the .pc file (${pcfiledir}) keep the package relocatable.
if(IS_ABSOLUTE "${CMAKE_INSTALL_INCLUDEDIR}")
  set(hadw_pc_includedir "${CMAKE_INSTALL_INCLUDEDIR}")
else()
  file(RELATIVE_PATH hadw_pc_up "/prefix/${HADW_INSTALL_PKGCONFIGDIR}" "/prefix/${CMAKE_INSTALL_INCLUDEDIR}")
  set(hadw_pc_includedir "\${pcfiledir}/${hadw_pc_up}")
endif()
set(hadw_pc_cflags "")  # nothing that changes the consumer's own code generation
# hadw::fp_strict's flag, opt-in: `pkg-config --variable=fp_strict_cflags hadw`.
set(hadw_pc_fp_strict_cflags "-ffp-contract=off")
set(hadw_pc_libs "")
if(HADW_ENABLE_OPENMP)
  string(APPEND hadw_pc_cflags " -DHADW_ENABLE_OPENMP -fopenmp")
  set(hadw_pc_libs "Libs: -fopenmp")
endif()
configure_file(${CMAKE_CURRENT_LIST_DIR}/hadw.pc.in ${PROJECT_BINARY_DIR}/hadw.pc @ONLY)
install(FILES ${PROJECT_BINARY_DIR}/hadw.pc DESTINATION ${HADW_INSTALL_PKGCONFIGDIR})
