// The JSON form of a case file, and where failing cases are written.
//
// Reading is strict: every object accepts exactly its own fields (an
// operation only the options it uses), every field has its type, and the
// case is validated (validate_case). Any problem throws InvalidArgument
// naming the file and the field ("bad.json: state_dict.w.shape: ..."); the
// CLI maps that to exit status 2.
#pragma once

#include <string>

#include "shardsim/properties/case_file.h"

namespace shardsim::properties {

// Parses and validates a case from JSON text; `source` names it in errors.
CaseFile parse_case(const std::string& text, const std::string& source);
// Reads, parses and validates the case file at `path`.
CaseFile load_case(const std::string& path);

// The case as JSON: indented (one field per line, small arrays inline) or on one line.
std::string case_to_json(const CaseFile& c, bool pretty = true);
// Writes the case to `path`. Throws Error when it cannot be written.
void save_case(const CaseFile& c, const std::string& path);

// The directory failing cases go to: $SHARDSIM_CASE_DIR when set, else
// cases/failures under the build directory this was built in.
std::string default_case_dir();
// Writes `c` into `dir` (created when missing) as <name>.json, where `name`
// defaults to "<law>-<digest of the case>"; returns the file's path.
std::string write_case_to_dir(const CaseFile& c, const std::string& dir,
                              const std::string& name = "");

// "shardsim replay <path>" (plus " --backend <b>" unless fiber).
std::string replay_command_line(const std::string& path, const std::string& backend = "fiber");

}  // namespace shardsim::properties
