#pragma once
/// \file
/// Python's module data: `TMP_MAX`, `tempdir`, `template`, `gettempdir()`, `gettempprefix()`.

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace tempfile {

/// How many names `mkstemp` and `mkdtemp` try before giving up: Python's `TMP_MAX`
/// (a distinct name because libc's `<stdio.h>` defines the macro `TMP_MAX`).
inline constexpr int tmp_max = 238328;

/// The directory temporary files go to by default. If `tempdir()` is set, returns it
/// unchanged. Otherwise searches, once per process (thread-safe), the first usable of
/// `$TMPDIR`, `$TEMP`, `$TMP`, `/tmp`, `/var/tmp`, `/usr/tmp` and the current directory,
/// where usable means a file could really be created, written and removed there; the
/// result, made absolute, becomes `tempdir()` as in Python. Throws `std::system_error`
/// (ENOENT) listing every candidate and why it failed when none is usable.
std::filesystem::path gettempdir();

/// The prefix of generated names when `options::prefix` is unset: Python's `template`,
/// "tmp" unless changed by `set_template`.
std::string gettempprefix();

/// Python's `tempdir`: unset until `set_tempdir` or the first `gettempdir()` sets it.
std::optional<std::filesystem::path> tempdir();

/// Sets Python's `tempdir`; `std::nullopt` makes the next `gettempdir()` search again.
void set_tempdir(std::optional<std::filesystem::path> dir);

/// Sets Python's `template`, the default prefix (`template` is a C++ keyword).
void set_template(std::string prefix);

namespace detail {

/// The search `gettempdir()` runs over its candidates: the first one, made absolute, where
/// a file could be created, written and removed. Throws `std::system_error` (ENOENT) whose
/// `what()` names every candidate with the reason it was unusable.
std::filesystem::path first_usable_dir(const std::vector<std::filesystem::path>& candidates);

/// `p` made absolute against the current directory and lexically normalised, without a
/// trailing separator (Python's `os.path.abspath`).
std::filesystem::path absolute_path(const std::filesystem::path& p);

}  // namespace detail
}  // namespace tempfile
