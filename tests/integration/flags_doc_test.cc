// docs/flags.md against the binary: every flag push-broker defines is in
// the table with the default `--helpfull` prints, and the table names no
// flag the binary lacks. A flag added, renamed or given a new default
// without its documentation fails here.
#include <fstream>
#include <map>
#include <regex>
#include <sstream>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/support/child_process.h"

namespace pushbroker {
namespace {

using Defaults = std::map<std::string, std::string>;

// The flags of app/flags.cc, as `--helpfull` lists them: a flag line is
// indented four spaces; its default follows "; default: " (on the same line
// or the next).
Defaults FlagsFromHelp(const std::string& help) {
  const size_t section = help.find("app/flags.cc:");
  EXPECT_NE(section, std::string::npos) << help;
  const size_t end = help.find("Flags from", section);
  const std::string text = help.substr(section, end == std::string::npos ? end : end - section);
  Defaults defaults;
  const std::regex flag_line("\n    --([a-z0-9_]+) \\(");
  const std::regex default_value(";\\s+default: ([^;]*);");
  for (std::sregex_iterator it(text.begin(), text.end(), flag_line), last; it != last; ++it) {
    std::smatch value;
    const auto from = text.begin() + it->position();
    if (!std::regex_search(from, text.end(), value, default_value)) continue;
    const std::string text_value = value[1];
    defaults[(*it)[1]] = std::string(absl::StripSuffix(absl::StripPrefix(text_value, "\""), "\""));
  }
  return defaults;
}

// The rows of the docs/flags.md table: `--a`, `--b` | default | meaning.
Defaults FlagsFromDoc(const std::string& doc) {
  Defaults defaults;
  std::istringstream lines(doc);
  const std::regex name("`--([a-z0-9_]+)`");
  for (std::string line; std::getline(lines, line);) {
    if (!absl::StartsWith(line, "| `--")) continue;
    const std::vector<std::string> cells = absl::StrSplit(line, '|');
    if (cells.size() < 4) {
      ADD_FAILURE() << "not a table row of three cells: " << line;
      continue;
    }
    std::string value(absl::StripAsciiWhitespace(cells[2]));
    value = std::string(absl::StripSuffix(absl::StripPrefix(value, "`"), "`"));
    if (value == "empty") value.clear();
    for (std::sregex_iterator it(cells[1].begin(), cells[1].end(), name), last; it != last; ++it) {
      defaults[(*it)[1]] = value;
    }
  }
  return defaults;
}

// Durations compare by value ("60s" is "1m"); everything else by text.
bool SameDefault(const std::string& a, const std::string& b) {
  absl::Duration da, db;
  if (absl::ParseDuration(a, &da) && absl::ParseDuration(b, &db)) return da == db;
  return a == b;
}

TEST(FlagsDocTest, TheFlagsTableMatchesHelpfullNameForNameAndDefaultForDefault) {
  // absl's --helpfull exits 1 after printing; what matters is what it prints.
  const testing::CommandResult help =
      testing::RunCommand(absl::StrCat(PUSH_BROKER_PATH, " --helpfull 2>&1"));
  const Defaults binary = FlagsFromHelp(help.output);
  ASSERT_GT(binary.size(), 40u) << help.output;

  std::ifstream file(FLAGS_DOC_PATH);
  ASSERT_TRUE(file.good()) << FLAGS_DOC_PATH;
  std::stringstream doc;
  doc << file.rdbuf();
  const Defaults documented = FlagsFromDoc(doc.str());

  for (const auto& [name, value] : binary) {
    auto it = documented.find(name);
    if (it == documented.end()) {
      ADD_FAILURE() << "--" << name << " (default " << value << ") is not in docs/flags.md";
    } else {
      EXPECT_TRUE(SameDefault(value, it->second))
          << "--" << name << ": the binary's default is '" << value << "', docs/flags.md says '"
          << it->second << "'";
    }
  }
  for (const auto& [name, value] : documented) {
    EXPECT_TRUE(binary.count(name))
        << "docs/flags.md documents --" << name << ", which push-broker does not define";
  }
}

}  // namespace
}  // namespace pushbroker
