// Fault specs: names, parsing and the canonical text.
#include <ostream>
#include <set>
#include <sstream>

#include "shardsim/core/faults.h"

namespace shardsim {

const char* fault_kind_name(FaultKind kind) {
  switch (kind) {
    case FaultKind::kCrash:
      return "crash";
    case FaultKind::kExit:
      return "exit";
    case FaultKind::kSkip:
      return "skip";
    case FaultKind::kMismatch:
      return "mismatch";
    case FaultKind::kDelay:
      return "delay";
    case FaultKind::kJitter:
      return "jitter";
    case FaultKind::kAlloc:
      return "alloc";
    case FaultKind::kDiverge:
      return "diverge";
  }
  return "?";
}

const char* mismatch_field_name(MismatchField field) {
  switch (field) {
    case MismatchField::kKind:
      return "kind";
    case MismatchField::kShape:
      return "shape";
    case MismatchField::kDtype:
      return "dtype";
    case MismatchField::kRoot:
      return "root";
  }
  return "?";
}

const char* alloc_filter_name(AllocFilter filter) {
  switch (filter) {
    case AllocFilter::kPlain:
      return "plain";
    case AllocFilter::kShared:
      return "shared";
    case AllocFilter::kPinned:
      return "pinned";
    case AllocFilter::kAny:
      return "any";
  }
  return "?";
}

bool alloc_filter_matches(AllocFilter filter, HostAllocKind kind) {
  switch (filter) {
    case AllocFilter::kPlain:
      return kind == HostAllocKind::kPlain;
    case AllocFilter::kShared:
      return kind == HostAllocKind::kShared || kind == HostAllocKind::kSharedPinned;
    case AllocFilter::kPinned:
      return kind == HostAllocKind::kPinned || kind == HostAllocKind::kSharedPinned;
    case AllocFilter::kAny:
      return true;
  }
  return false;
}

std::string FaultSpec::str() const {
  std::ostringstream os;
  os << fault_kind_name(kind) << ":";
  switch (kind) {
    case FaultKind::kCrash:
    case FaultKind::kExit:
    case FaultKind::kSkip:
      os << "rank=" << rank << ",collective=" << collective;
      break;
    case FaultKind::kMismatch:
      os << "rank=" << rank << ",collective=" << collective
         << ",field=" << mismatch_field_name(field);
      break;
    case FaultKind::kDelay:
      os << "rank=" << rank << ",collective=" << collective << ",ms=" << ms;
      break;
    case FaultKind::kJitter:
      os << "p=" << percent << ",max_ms=" << ms;
      if (rank >= 0) os << ",rank=" << rank;
      break;
    case FaultKind::kAlloc:
      os << "kind=" << alloc_filter_name(alloc) << ",nth=" << nth;
      if (rank >= 0) os << ",rank=" << rank;
      break;
    case FaultKind::kDiverge:
      os << "rank=" << rank;
      if (!key.empty()) os << ",key=" << key;
      break;
  }
  return os.str();
}

bool operator==(const FaultSpec& a, const FaultSpec& b) { return a.str() == b.str(); }

std::ostream& operator<<(std::ostream& os, const FaultSpec& spec) { return os << spec.str(); }

namespace {

// Upper bounds that keep every value meaningful and every product in range.
constexpr int64_t kMaxRank = int64_t{1} << 20;
constexpr int64_t kMaxCount = int64_t{1} << 40;
constexpr int64_t kMaxMs = int64_t{86400} * 1000;  // one day

struct KindForm {
  FaultKind kind;
  const char* name;
  const char* form;
  std::set<std::string> required;
  std::set<std::string> optional;
};

const std::vector<KindForm>& kind_forms() {
  static const std::vector<KindForm> forms = {
      {FaultKind::kCrash, "crash", "crash:rank=R,collective=K", {"rank", "collective"}, {}},
      {FaultKind::kExit, "exit", "exit:rank=R,collective=K", {"rank", "collective"}, {}},
      {FaultKind::kSkip, "skip", "skip:rank=R,collective=K", {"rank", "collective"}, {}},
      {FaultKind::kMismatch,
       "mismatch",
       "mismatch:rank=R,collective=K[,field=kind|shape|dtype|root]",
       {"rank", "collective"},
       {"field"}},
      {FaultKind::kDelay,
       "delay",
       "delay:rank=R,collective=K,ms=T",
       {"rank", "collective", "ms"},
       {}},
      {FaultKind::kJitter, "jitter", "jitter:p=P,max_ms=M[,rank=R]", {"p", "max_ms"}, {"rank"}},
      {FaultKind::kAlloc,
       "alloc",
       "alloc:kind=plain|shared|pinned|any,nth=N[,rank=R]",
       {"kind", "nth"},
       {"rank"}},
      {FaultKind::kDiverge, "diverge", "diverge:rank=R[,key=NAME]", {"rank"}, {"key"}},
  };
  return forms;
}

std::string kind_list() {
  std::string out;
  for (const KindForm& f : kind_forms()) out += std::string(out.empty() ? "" : ", ") + f.name;
  return out;
}

[[noreturn]] void bad(const std::string& text, const std::string& what, const KindForm* form) {
  std::string msg = "fault '" + text + "': " + what;
  if (form != nullptr) msg += std::string(" (expected ") + form->form + ")";
  throw InvalidArgument(msg);
}

int64_t parse_int(const std::string& text, const std::string& key, const std::string& value,
                  int64_t lo, int64_t hi, const KindForm* form) {
  bool digits = !value.empty() && value.size() <= 18;
  for (char c : value) digits = digits && c >= '0' && c <= '9';
  int64_t v = digits ? std::stoll(value) : -1;
  if (!digits || v < lo || v > hi) {
    bad(text,
        key + "=" + value + " is not an integer in [" + std::to_string(lo) + ", " +
            std::to_string(hi) + "]",
        form);
  }
  return v;
}

template <typename E, size_t N>
E parse_enum(const std::string& text, const std::string& key, const std::string& value,
             const std::pair<const char*, E> (&names)[N], const KindForm* form) {
  std::string accepted;
  for (const auto& n : names) {
    if (value == n.first) return n.second;
    accepted += std::string(accepted.empty() ? "" : ", ") + n.first;
  }
  bad(text, key + "=" + value + " is not one of " + accepted, form);
}

}  // namespace

FaultSpec parse_fault(const std::string& text) {
  const size_t colon = text.find(':');
  const std::string name = text.substr(0, colon);
  const KindForm* form = nullptr;
  for (const KindForm& f : kind_forms()) {
    if (name == f.name) form = &f;
  }
  if (form == nullptr)
    bad(text, "unknown kind '" + name + "' (kinds: " + kind_list() + ")", nullptr);
  FaultSpec spec;
  spec.kind = form->kind;
  std::set<std::string> seen;
  std::vector<std::string> items;
  if (colon != std::string::npos) {
    const std::string rest = text.substr(colon + 1);
    size_t start = 0;
    while (true) {
      const size_t comma = rest.find(',', start);
      items.push_back(rest.substr(start, comma == std::string::npos ? comma : comma - start));
      if (comma == std::string::npos) break;
      start = comma + 1;
    }
  }
  for (const std::string& item : items) {
    const size_t eq = item.find('=');
    if (eq == std::string::npos || eq == 0) bad(text, "'" + item + "' is not key=value", form);
    const std::string key = item.substr(0, eq);
    const std::string value = item.substr(eq + 1);
    if (!form->required.count(key) && !form->optional.count(key)) {
      bad(text, "unknown key '" + key + "' for " + form->name, form);
    }
    if (!seen.insert(key).second) bad(text, "key '" + key + "' given twice", form);
    if (key == "rank") {
      spec.rank = parse_int(text, key, value, 0, kMaxRank, form);
    } else if (key == "collective") {
      spec.collective = parse_int(text, key, value, 1, kMaxCount, form);
    } else if (key == "ms") {
      spec.ms = parse_int(text, key, value, 0, kMaxMs, form);
    } else if (key == "max_ms") {
      spec.ms = parse_int(text, key, value, 1, kMaxMs, form);
    } else if (key == "p") {
      spec.percent = parse_int(text, key, value, 1, 100, form);
    } else if (key == "nth") {
      spec.nth = parse_int(text, key, value, 1, kMaxCount, form);
    } else if (key == "field") {
      static const std::pair<const char*, MismatchField> names[] = {
          {"kind", MismatchField::kKind},
          {"shape", MismatchField::kShape},
          {"dtype", MismatchField::kDtype},
          {"root", MismatchField::kRoot}};
      spec.field = parse_enum(text, key, value, names, form);
    } else if (key == "kind") {
      static const std::pair<const char*, AllocFilter> names[] = {{"plain", AllocFilter::kPlain},
                                                                  {"shared", AllocFilter::kShared},
                                                                  {"pinned", AllocFilter::kPinned},
                                                                  {"any", AllocFilter::kAny}};
      spec.alloc = parse_enum(text, key, value, names, form);
    } else if (key == "key") {
      if (value.empty()) bad(text, "key= is empty", form);
      spec.key = value;
    }
  }
  for (const std::string& key : form->required) {
    if (!seen.count(key)) bad(text, "missing key '" + key + "'", form);
  }
  return spec;
}

std::vector<FaultSpec> parse_faults(const std::vector<std::string>& texts) {
  std::vector<FaultSpec> out;
  out.reserve(texts.size());
  for (const std::string& t : texts) out.push_back(parse_fault(t));
  return out;
}

}  // namespace shardsim
