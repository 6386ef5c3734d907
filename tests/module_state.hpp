#pragma once
// Helpers for the tests of the module data and the name functions: restoring the global
// state they change, and running code without root's permission bypass.

#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>

#include <tempfile/names.hpp>
#include <tempfile/tempdir.hpp>

#include <array>
#include <exception>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>

namespace test {

/// Saves $TMPDIR, $TEMP, $TMP, `tempdir` and `template`; restores them all on destruction,
/// which also drops `gettempdir()`'s cached search result.
class module_state_guard {
 public:
  module_state_guard() : tempdir_(tempfile::tempdir()), prefix_(tempfile::gettempprefix()) {
    for (std::size_t i = 0; i < variables_.size(); ++i)
      if (const char* value = ::getenv(variables_[i])) saved_[i] = value;
  }
  ~module_state_guard() {
    for (std::size_t i = 0; i < variables_.size(); ++i) {
      if (saved_[i])
        ::setenv(variables_[i], saved_[i]->c_str(), 1);
      else
        ::unsetenv(variables_[i]);
    }
    tempfile::set_tempdir(tempdir_);
    tempfile::set_template(prefix_);
  }
  module_state_guard(const module_state_guard&) = delete;
  module_state_guard& operator=(const module_state_guard&) = delete;

  /// Sets only the given variables (the others are unset) and forgets the cached search.
  void environment(std::optional<std::string> tmpdir, std::optional<std::string> temp = {},
                   std::optional<std::string> tmp = {}) {
    const std::array<std::optional<std::string>, 3> values{tmpdir, temp, tmp};
    for (std::size_t i = 0; i < variables_.size(); ++i) {
      if (values[i])
        ::setenv(variables_[i], values[i]->c_str(), 1);
      else
        ::unsetenv(variables_[i]);
    }
    tempfile::set_tempdir(std::nullopt);
  }

 private:
  static constexpr std::array<const char*, 3> variables_{"TMPDIR", "TEMP", "TMP"};
  std::array<std::optional<std::string>, 3> saved_;
  std::optional<std::filesystem::path> tempdir_;
  std::string prefix_;
};

/// Changes the current directory for one test.
class cwd_guard {
 public:
  explicit cwd_guard(const std::filesystem::path& dir)
      : previous_(std::filesystem::current_path()) {
    std::filesystem::current_path(dir);
  }
  ~cwd_guard() { std::filesystem::current_path(previous_); }
  cwd_guard(const cwd_guard&) = delete;
  cwd_guard& operator=(const cwd_guard&) = delete;

 private:
  std::filesystem::path previous_;
};

/// Installs a name source for the calling thread and restores the previous one.
class name_source_guard {
 public:
  explicit name_source_guard(tempfile::detail::name_source source)
      : previous_(tempfile::detail::set_name_source(std::move(source))) {}
  ~name_source_guard() { tempfile::detail::set_name_source(std::move(previous_)); }
  name_source_guard(const name_source_guard&) = delete;
  name_source_guard& operator=(const name_source_guard&) = delete;

 private:
  tempfile::detail::name_source previous_;
};

/// Runs `body` where permission checks apply: in this process unless it is root; as root,
/// in a forked child that has dropped to the user `nobody`. `body` returns a description
/// of what went wrong, empty if nothing did. Returns that description, or nothing when
/// the checks cannot apply (root without a `nobody` user).
inline std::optional<std::string> run_unprivileged(const std::function<std::string()>& body) {
  auto guarded = [&]() -> std::string {
    try {
      return body();
    } catch (const std::exception& e) {
      return std::string("unexpected exception: ") + e.what();
    }
  };
  if (::geteuid() != 0) return guarded();
  const passwd* nobody = ::getpwnam("nobody");
  if (!nobody) return std::nullopt;
  int pipe_fds[2];
  if (::pipe2(pipe_fds, O_CLOEXEC) != 0) return "pipe2 failed";
  const pid_t child = ::fork();
  if (child < 0) return "fork failed";
  if (child == 0) {
    ::close(pipe_fds[0]);
    std::string report;
    if (::setgroups(0, nullptr) != 0 ||
        ::setresgid(nobody->pw_gid, nobody->pw_gid, nobody->pw_gid) != 0 ||
        ::setresuid(nobody->pw_uid, nobody->pw_uid, nobody->pw_uid) != 0)
      report = "could not drop to nobody";
    else
      report = guarded();
    const ssize_t written = ::write(pipe_fds[1], report.data(), report.size());
    ::_exit(written == static_cast<ssize_t>(report.size()) ? 0 : 1);
  }
  ::close(pipe_fds[1]);
  std::string report;
  char buffer[256];
  for (ssize_t got; (got = ::read(pipe_fds[0], buffer, sizeof buffer)) > 0;)
    report.append(buffer, static_cast<std::size_t>(got));
  ::close(pipe_fds[0]);
  int status = 0;
  ::waitpid(child, &status, 0);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) report += " (the child failed)";
  return report;
}

/// Checks that `body` (see `run_unprivileged`) reports nothing wrong, or warns that it
/// could not run.
inline void check_unprivileged(const std::function<std::string()>& body) {
  const std::optional<std::string> report = run_unprivileged(body);
  if (report)
    CHECK(*report == "");
  else
    WARN("skipped: running as root and there is no user 'nobody' to drop to");
}

/// Makes `parent` searchable by everyone and creates in it a directory "locked" that
/// everyone may search but nobody may write to (root aside). Returns its path.
inline std::filesystem::path make_locked_dir(const std::filesystem::path& parent) {
  namespace fs = std::filesystem;
  const fs::perms read_and_search = fs::perms::owner_read | fs::perms::owner_exec |
                                    fs::perms::group_read | fs::perms::group_exec |
                                    fs::perms::others_read | fs::perms::others_exec;
  fs::permissions(parent, read_and_search | fs::perms::owner_write);
  const fs::path locked = parent / "locked";
  fs::create_directory(locked);
  fs::permissions(locked, read_and_search);
  return locked;
}

}  // namespace test
