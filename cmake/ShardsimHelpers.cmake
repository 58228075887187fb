# Helpers shared by every module of shardsim.

# Header-only parsers: the system copies on Debian, or a folder given by
# SHARDSIM_THIRD_PARTY_INCLUDE (the GPU build script uses that).
function(shardsim_find_header_only_deps)
  set(_hints ${SHARDSIM_THIRD_PARTY_INCLUDE})
  find_path(SHARDSIM_JSON_INCLUDE nlohmann/json.hpp HINTS ${_hints} REQUIRED)
  find_path(SHARDSIM_TOML_INCLUDE toml++/toml.h HINTS ${_hints} REQUIRED)
  find_path(SHARDSIM_CLI11_INCLUDE CLI/CLI.hpp HINTS ${_hints} REQUIRED)
  add_library(shardsim_third_party INTERFACE)
  target_include_directories(shardsim_third_party SYSTEM INTERFACE
    ${SHARDSIM_JSON_INCLUDE} ${SHARDSIM_TOML_INCLUDE} ${SHARDSIM_CLI11_INCLUDE})
  # toml++ is used header-only (one translation unit defines the implementation).
  target_compile_definitions(shardsim_third_party INTERFACE TOML_EXCEPTIONS=1)
endfunction()

# Flags every shardsim target gets.
function(shardsim_setup_common_flags)
  add_library(shardsim_flags INTERFACE)
  target_compile_options(shardsim_flags INTERFACE -Wall -Wextra -Wno-unused-parameter)
  if(SHARDSIM_WARNINGS_AS_ERRORS)
    target_compile_options(shardsim_flags INTERFACE -Werror)
  endif()
  if(SHARDSIM_SANITIZE)
    # ASan + UBSan (LeakSanitizer comes with ASan). Every UBSan report is fatal,
    # so a sanitizer run that passes is clean. vptr is off: libtorch's classes
    # come from a library built without the sanitizer.
    target_compile_options(shardsim_flags INTERFACE -fsanitize=address,undefined -fno-omit-frame-pointer
                                                    -fno-sanitize=vptr -fno-sanitize-recover=all)
    target_link_options(shardsim_flags INTERFACE -fsanitize=address,undefined)
    target_compile_definitions(shardsim_flags INTERFACE SHARDSIM_SANITIZE=1)
  endif()
  if(SHARDSIM_FUZZERS_ENABLED)
    # Coverage for libFuzzer in every shardsim object; the fuzz executables
    # add the libFuzzer runtime themselves (fuzz/CMakeLists.txt).
    target_compile_options(shardsim_flags INTERFACE -fsanitize=fuzzer-no-link)
    target_link_options(shardsim_flags INTERFACE -fsanitize=fuzzer-no-link)
  endif()
endfunction()

# Decides whether the libFuzzer targets build (SHARDSIM_FUZZERS_ENABLED): they
# need clang, and they always run with AddressSanitizer and UBSan, so they
# turn SHARDSIM_SANITIZE on. With another compiler the option is ignored with
# a warning; the corpus is still replayed by every build (fuzz/).
function(shardsim_setup_fuzzing)
  set(SHARDSIM_FUZZERS_ENABLED OFF PARENT_SCOPE)
  if(NOT SHARDSIM_BUILD_FUZZERS)
    return()
  endif()
  if(NOT CMAKE_CXX_COMPILER_ID MATCHES "Clang")
    message(WARNING "SHARDSIM_BUILD_FUZZERS needs clang (libFuzzer); ${CMAKE_CXX_COMPILER_ID} "
                    "builds only the corpus replay. Configure with -DCMAKE_CXX_COMPILER=clang++.")
    return()
  endif()
  if(NOT SHARDSIM_SANITIZE)
    message(STATUS "SHARDSIM_BUILD_FUZZERS: turning SHARDSIM_SANITIZE on (fuzzing runs under ASan+UBSan)")
    set(SHARDSIM_SANITIZE ON CACHE BOOL "Build with AddressSanitizer and UndefinedBehaviorSanitizer" FORCE)
  endif()
  set(SHARDSIM_FUZZERS_ENABLED ON PARENT_SCOPE)
endfunction()

# The one shared precompiled header (build-notes: a PCH per small target is
# much slower than one reused everywhere). Every C++ target calls this.
function(shardsim_use_pch target)
  if(NOT TARGET shardsim_pch)
    message(FATAL_ERROR "shardsim_pch must be defined before ${target}")
  endif()
  target_precompile_headers(${target} REUSE_FROM shardsim_pch)
endfunction()

# shardsim_add_test(NAME name SOURCES a.cpp b.cpp LIBS lib... [LABELS l...] [TIMEOUT s])
# One GoogleTest executable registered as one ctest entry.
function(shardsim_add_test)
  cmake_parse_arguments(T "" "NAME;TIMEOUT" "SOURCES;LIBS;LABELS;ARGS" ${ARGN})
  add_executable(${T_NAME} ${T_SOURCES})
  target_link_libraries(${T_NAME} PRIVATE ${T_LIBS} GTest::gtest GTest::gtest_main shardsim_flags)
  shardsim_use_pch(${T_NAME})
  add_test(NAME ${T_NAME} COMMAND ${T_NAME} ${T_ARGS})
  if(NOT T_TIMEOUT)
    set(T_TIMEOUT 600)
  endif()
  set_tests_properties(${T_NAME} PROPERTIES TIMEOUT ${T_TIMEOUT})
  if(T_LABELS)
    set_tests_properties(${T_NAME} PROPERTIES LABELS "${T_LABELS}")
  endif()
endfunction()

# --- Dependency direction -------------------------------------------------------
# The modules and what each may depend on (README, "Layout of the code"):
#   cli -> {scenarios, properties, bench} -> runner -> {core, core/c10d, sim}
# shardsim_check_link_direction() fails the configure step when a library
# links a module it may not; cmake/check_dependencies.cmake (the ctest
# dependency_direction) does the same for #include lines.
set(SHARDSIM_MODULE_OF_shardsim_core core)
set(SHARDSIM_MODULE_OF_shardsim_c10d c10d)
set(SHARDSIM_MODULE_OF_shardsim_sim sim)
set(SHARDSIM_MODULE_OF_shardsim_checkpoint checkpoint)
set(SHARDSIM_MODULE_OF_shardsim_runner runner)
set(SHARDSIM_MODULE_OF_shardsim_runner_fiber runner_fiber)
set(SHARDSIM_MODULE_OF_shardsim_cases properties)
set(SHARDSIM_MODULE_OF_shardsim_property_gen properties)
set(SHARDSIM_MODULE_OF_shardsim_scenarios scenarios)
set(SHARDSIM_MODULE_OF_shardsim_bench bench)
set(SHARDSIM_MODULE_OF_shardsim cli)
set(SHARDSIM_MAY_LINK_core "")
set(SHARDSIM_MAY_LINK_c10d core)
set(SHARDSIM_MAY_LINK_sim core)
set(SHARDSIM_MAY_LINK_checkpoint core)
set(SHARDSIM_MAY_LINK_runner core c10d checkpoint)
set(SHARDSIM_MAY_LINK_runner_fiber core runner sim)
set(SHARDSIM_MAY_LINK_properties core checkpoint runner runner_fiber properties)
set(SHARDSIM_MAY_LINK_scenarios core checkpoint runner)
set(SHARDSIM_MAY_LINK_bench core sim runner runner_fiber scenarios)
set(SHARDSIM_MAY_LINK_cli core c10d sim checkpoint runner runner_fiber properties scenarios bench)

function(shardsim_check_link_direction)
  foreach(target shardsim_core shardsim_c10d shardsim_sim shardsim_checkpoint shardsim_runner
                 shardsim_runner_fiber shardsim_cases shardsim_property_gen shardsim_scenarios
                 shardsim_bench shardsim)
    if(NOT TARGET ${target})
      continue()
    endif()
    set(module ${SHARDSIM_MODULE_OF_${target}})
    get_target_property(links ${target} LINK_LIBRARIES)
    if(NOT links)
      set(links "")
    endif()
    foreach(dep ${links})
      if(TARGET ${dep})
        get_target_property(aliased ${dep} ALIASED_TARGET)
        if(aliased)
          set(dep ${aliased})
        endif()
      endif()
      if(NOT DEFINED SHARDSIM_MODULE_OF_${dep})
        continue()  # not a shardsim module (libtorch, Boost, flags ...)
      endif()
      set(dep_module ${SHARDSIM_MODULE_OF_${dep}})
      if(dep_module STREQUAL module)
        continue()
      endif()
      if(NOT dep_module IN_LIST SHARDSIM_MAY_LINK_${module})
        message(FATAL_ERROR "dependency direction: ${target} (module ${module}) links ${dep} "
                            "(module ${dep_module}); ${module} may link only: ${SHARDSIM_MAY_LINK_${module}}")
      endif()
    endforeach()
  endforeach()
endfunction()
