#pragma once
/// \file
/// `options`: Python's keyword arguments, one builder for every factory.

#include <sys/types.h>

#include <cstddef>
#include <filesystem>
#include <optional>
#include <string>
#include <utility>

namespace tempfile {

class spool_budget;

/// Python's keyword arguments for every function of the library. Each function reads the
/// ones it documents and ignores the rest. Setters only store (a bad mode is rejected by
/// the function that opens the file) and return `*this` for chaining:
/// `options().suffix(".json").dir(uploads)`. A class with a user-provided constructor on
/// purpose: g++ 12 destroys an aggregate temporary brace-initialised inside `co_await` twice.
class options {
 public:
  options() {}  // user-provided: see above

  /// Sets `suffix()`.
  options& suffix(std::string value) { suffix_ = std::move(value); return *this; }
  /// Sets `prefix()`.
  options& prefix(std::string value) { prefix_ = std::move(value); return *this; }
  /// Sets `dir()`.
  options& dir(std::filesystem::path value) { dir_ = std::move(value); return *this; }
  /// Sets `text()`.
  options& text(bool value) { text_ = value; return *this; }
  /// Sets `mode()`.
  options& mode(std::string value) { mode_ = std::move(value); return *this; }
  /// Sets `buffering()`.
  options& buffering(long value) { buffering_ = value; return *this; }
  /// Sets `auto_delete()`.
  options& auto_delete(bool value) { auto_delete_ = value; return *this; }
  /// Sets `delete_on_close()`.
  options& delete_on_close(bool value) { delete_on_close_ = value; return *this; }
  /// Sets `max_size()`.
  options& max_size(std::size_t value) { max_size_ = value; return *this; }
  /// Sets `ignore_cleanup_errors()`.
  options& ignore_cleanup_errors(bool value) { ignore_cleanup_errors_ = value; return *this; }
  /// Sets `permissions()`.
  options& permissions(mode_t value) { permissions_ = value; return *this; }
  /// Sets `durable()`.
  options& durable(bool value) { durable_ = value; return *this; }

  /// Appended to generated names; default "".
  const std::string& suffix() const noexcept { return suffix_; }
  /// Prepended to generated names; unset means `gettempprefix()`.
  const std::optional<std::string>& prefix() const noexcept { return prefix_; }
  /// Where files are created; unset means `gettempdir()`.
  const std::optional<std::filesystem::path>& dir() const noexcept { return dir_; }
  /// `mkstemp` only: Python's text flag (no effect on Linux); default false.
  bool text() const noexcept { return text_; }
  /// File mode string; default "w+b".
  const std::string& mode() const noexcept { return mode_; }
  /// -1: default buffer, 0: unbuffered, n > 1: n-byte buffer (1 means the default).
  long buffering() const noexcept { return buffering_; }
  /// Named file and directory: delete at all (Python's `delete=`); default true.
  bool auto_delete() const noexcept { return auto_delete_; }
  /// Named file: delete at `close()` rather than at destruction; default true.
  bool delete_on_close() const noexcept { return delete_on_close_; }
  /// Spooled file: bytes kept in memory before rollover; 0 means no size limit.
  std::size_t max_size() const noexcept { return max_size_; }
  /// Directory: cleanup never throws; default false.
  bool ignore_cleanup_errors() const noexcept { return ignore_cleanup_errors_; }
  /// Mode bits of the files and directories a call creates, set exactly whatever the
  /// umask; unset: 0600 for files, 0700 for directories (then the umask still applies).
  std::optional<mode_t> permissions() const noexcept { return permissions_; }
  /// `link`, `replace`, `persist` and `persist_noclobber` make the data reach stable
  /// storage before the name appears and sync the target's directory before returning;
  /// default false (atomic, not durable). On tmpfs and ramfs, which have no stable storage
  /// and whose fsync does nothing, no sync is issued.
  bool durable() const noexcept { return durable_; }

  /// Spooled file: charge its memory to `budget` (shared, not owned; it must outlive the file).
  options& memory_budget(spool_budget& budget) { memory_budget_ = &budget; return *this; }
  /// Spooled file: the budget its memory is charged to; none (nullptr) by default.
  spool_budget* memory_budget() const noexcept { return memory_budget_; }

 private:
  std::string suffix_;
  std::optional<std::string> prefix_;
  std::optional<std::filesystem::path> dir_;
  bool text_ = false;
  std::string mode_ = "w+b";
  long buffering_ = -1;
  bool auto_delete_ = true;
  bool delete_on_close_ = true;
  std::size_t max_size_ = 0;
  bool ignore_cleanup_errors_ = false;
  std::optional<mode_t> permissions_;
  bool durable_ = false;
  spool_budget* memory_budget_ = nullptr;
};

}  // namespace tempfile
