# Writes OUTPUT, a C++ source defining `absl::string_view FUNCTION()` in
# namespace pushbroker that returns the contents of INPUT.
# Usage: cmake -DINPUT=... -DOUTPUT=... -DFUNCTION=... -P embed_text.cmake
file(READ "${INPUT}" content)
string(FIND "${content}" ")PBTEXT\"" clash)
if(NOT clash EQUAL -1)
  message(FATAL_ERROR "${INPUT} contains the raw-string delimiter )PBTEXT\"")
endif()
file(WRITE "${OUTPUT}"
  "// Generated from ${INPUT} by cmake/embed_text.cmake. Do not edit.\n"
  "#include \"absl/strings/string_view.h\"\n\n"
  "namespace pushbroker {\n\n"
  "absl::string_view ${FUNCTION}() {\n"
  "  static constexpr char kText[] = R\"PBTEXT(${content})PBTEXT\";\n"
  "  return absl::string_view(kText, sizeof(kText) - 1);\n"
  "}\n\n"
  "}  // namespace pushbroker\n")
