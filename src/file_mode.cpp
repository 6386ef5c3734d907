#include <tempfile/file_mode.hpp>

#include <stdexcept>

namespace tempfile {

file_mode file_mode::parse(std::string_view mode) {
  auto invalid = [&](const char* why) {
    return std::invalid_argument("invalid mode '" + std::string(mode) + "': " + why);
  };
  char kind = 0;
  bool plus = false, binary = false, text = false;
  for (const char c : mode) {
    switch (c) {
      case 'r': case 'w': case 'a': case 'x':
        if (kind) throw invalid("must have exactly one of r/w/a/x");
        kind = c;
        break;
      case '+':
        if (plus) throw invalid("'+' given twice");
        plus = true;
        break;
      case 'b':
        if (binary) throw invalid("'b' given twice");
        binary = true;
        break;
      case 't':
        if (text) throw invalid("'t' given twice");
        text = true;
        break;
      default:
        throw invalid("unknown character");
    }
  }
  if (!kind) throw invalid("must have exactly one of r/w/a/x");
  if (binary && text) throw invalid("can't have text and binary mode at once");
  file_mode parsed;
  parsed.text = std::string(mode);
  parsed.readable = kind == 'r' || plus;
  parsed.writable = kind != 'r' || plus;
  parsed.append = kind == 'a';
  return parsed;
}

}  // namespace tempfile
