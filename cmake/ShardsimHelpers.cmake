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
