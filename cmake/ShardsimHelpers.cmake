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
    target_compile_options(shardsim_flags INTERFACE -fsanitize=address,undefined -fno-omit-frame-pointer
                                                    -fno-sanitize=vptr)
    target_link_options(shardsim_flags INTERFACE -fsanitize=address,undefined)
    target_compile_definitions(shardsim_flags INTERFACE SHARDSIM_SANITIZE=1)
  endif()
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
