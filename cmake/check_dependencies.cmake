# cmake -DSOURCE_DIR=... -P check_dependencies.cmake
# The include half of the dependency direction (the link half is checked when
# configuring): every `#include "shardsim/<module>/..."` in a folder must name
# a module that folder may depend on. Prints every offending line; fails when
# there is one.
cmake_policy(SET CMP0057 NEW)
if(NOT SOURCE_DIR)
  message(FATAL_ERROR "check_dependencies: pass -DSOURCE_DIR=<the source tree>")
endif()

# folder | the modules its files may include (the most specific folder wins)
set(rules
  "core|core"
  "core/c10d|core c10d"
  "sim|core sim"
  "checkpoint|core checkpoint"
  "runner|core c10d checkpoint runner"
  "runner/fiber|core runner sim"
  "properties|core checkpoint runner properties"
  "scenarios|core checkpoint runner scenarios"
  "scenarios/tests|core checkpoint runner scenarios sim"
  "bench|core sim runner scenarios bench"
  "cli|core c10d sim checkpoint runner properties scenarios bench"
  "fuzz|core checkpoint runner properties scenarios"
)

set(bad 0)
set(checked 0)
foreach(rule ${rules})
  string(REPLACE "|" ";" parts "${rule}")
  list(GET parts 0 folder)
  list(GET parts 1 allowed)
  string(REPLACE " " ";" allowed "${allowed}")
  if(NOT IS_DIRECTORY "${SOURCE_DIR}/${folder}")
    continue()
  endif()
  file(GLOB_RECURSE files RELATIVE "${SOURCE_DIR}" "${SOURCE_DIR}/${folder}/*.cpp" "${SOURCE_DIR}/${folder}/*.h")
  foreach(f ${files})
    # The most specific rule for this file: skip it here when a deeper folder has one.
    set(deeper FALSE)
    foreach(other ${rules})
      string(REPLACE "|" ";" oparts "${other}")
      list(GET oparts 0 ofolder)
      string(LENGTH "${ofolder}" olen)
      string(LENGTH "${folder}" flen)
      if(olen GREATER flen AND f MATCHES "^${ofolder}/")
        set(deeper TRUE)
      endif()
    endforeach()
    if(deeper)
      continue()
    endif()
    math(EXPR checked "${checked} + 1")
    file(STRINGS "${SOURCE_DIR}/${f}" lines REGEX "^#include \"shardsim/")
    foreach(line ${lines})
      string(REGEX REPLACE "^#include \"shardsim/([a-z_0-9]+)/.*" "\\1" module "${line}")
      if(NOT module IN_LIST allowed)
        message("${f}: ${line}: ${folder} may include only: ${allowed}")
        math(EXPR bad "${bad} + 1")
      endif()
    endforeach()
  endforeach()
endforeach()
if(bad GREATER 0)
  message(FATAL_ERROR "dependency direction: ${bad} include(s) point the wrong way")
endif()
message("dependency direction: ${checked} files checked, every include points one way")
