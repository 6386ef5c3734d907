#pragma once
/// \file
/// The parts of Python's file protocol that are the same for every file type, written once
/// over each type's primitives: `read(span)`, `write(span)`, `seek`.

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <tempfile/task.hpp>

namespace tempfile {

// CRTP base: `Derived` provides `task<std::size_t> read(std::span<std::byte>)` (fills the
// span unless end of file comes first), `task<std::size_t> write(std::span<const std::byte>)`
// `std::int64_t seek(std::int64_t, int)`, and `void check_open() const` (throws EBADF when
// closed; may be non-public with this class a friend). Derived classes re-export the
// `read` and `write` overloads with `using`. Outside `detail` so that the reference lists
// these members on every file type's page.

/// Python's file methods every file type has alike (`read(n)`, `readline`, `readlines`,
/// `write(string_view)`, `writelines`), made of the type's own `read`, `write` and `seek`.
template <class Derived>
class file_protocol {
 public:
  /// Reads up to `n` bytes (`n < 0`: to end of file); fewer only at end of file.
  task<std::string> read(std::ptrdiff_t n = -1) {
    std::string out;
    if (n >= 0) {
      out.resize(static_cast<std::size_t>(n));
      out.resize(co_await self().read(as_writable(out)));
      co_return out;
    }
    for (;;) {
      const std::size_t old_size = out.size();
      out.resize(old_size + read_chunk);
      const std::size_t got =
          co_await self().read(as_writable(out).subspan(old_size, read_chunk));
      out.resize(old_size + got);
      if (got < read_chunk) co_return out;
    }
  }

  /// Reads one line, keeping its '\n'; at most `limit` bytes when `limit >= 0`; "" at end
  /// of file. Reads ahead in chunks and seeks back to just after the line.
  task<std::string> readline(std::ptrdiff_t limit = -1) {
    std::string line;
    const std::size_t max = limit < 0 ? SIZE_MAX : static_cast<std::size_t>(limit);
    do {  // at least one read, so that readline(0) on a closed file throws as read(0) does
      const std::size_t want = std::min(line_chunk, max - line.size());
      const std::size_t old_size = line.size();
      line.resize(old_size + want);
      const std::size_t got = co_await self().read(as_writable(line).subspan(old_size, want));
      line.resize(old_size + got);
      if (const auto newline = line.find('\n', old_size); newline != std::string::npos) {
        const std::size_t extra = line.size() - (newline + 1);
        line.resize(newline + 1);
        self().seek(-static_cast<std::int64_t>(extra), SEEK_CUR);
        break;
      }
      if (got < want) break;  // end of file
    } while (line.size() < max);
    co_return line;
  }

  /// Reads every remaining line.
  task<std::vector<std::string>> readlines() {
    std::vector<std::string> lines;
    const std::string rest = co_await read();
    for (std::size_t start = 0; start < rest.size();) {
      const std::size_t end = std::min(rest.find('\n', start), rest.size() - 1) + 1;
      lines.emplace_back(rest, start, end - start);
      start = end;
    }
    co_return lines;
  }

  /// Writes the bytes of `text`; returns how many (all of them).
  task<std::size_t> write(std::string_view text) {
    return self().write(std::as_bytes(std::span(text.data(), text.size())));
  }

  /// Writes each element of a range of string-likes, in order. A closed file throws even
  /// when the range is empty.
  template <class Range>
  task<void> writelines(const Range& lines) {
    self().check_open();
    for (const auto& line : lines) co_await write(std::string_view(line));
  }

 private:
  static constexpr std::size_t read_chunk = 64 * 1024;
  static constexpr std::size_t line_chunk = 256;

  static std::span<std::byte> as_writable(std::string& s) {
    return std::as_writable_bytes(std::span(s.data(), s.size()));
  }
  Derived& self() { return static_cast<Derived&>(*this); }
};

}  // namespace tempfile
