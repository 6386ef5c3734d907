#pragma once
/// \file
/// `file_mode`: a parsed Python mode string ("w+b", "rb", "a", "x+", …).

#include <string>
#include <string_view>

namespace tempfile {

/// What a Python mode string allows. Temporary files are always opened O_RDWR (an
/// O_TMPFILE must be writable); the mode governs what the file object permits.
struct file_mode {
  /// The mode string as given.
  std::string text = "w+b";
  /// 'r' or '+': reads are allowed.
  bool readable = true;
  /// 'w', 'a', 'x' or '+': writes are allowed.
  bool writable = true;
  /// 'a': every write goes to the end of the file.
  bool append = false;

  /// Parses exactly one of r/w/a/x, an optional '+', an optional 'b' or 't', each at most
  /// once; anything else throws `std::invalid_argument` naming the mode.
  static file_mode parse(std::string_view mode);
};

}  // namespace tempfile
