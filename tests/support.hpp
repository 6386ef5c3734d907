#pragma once
// Helpers shared by the tests: scratch directories, descriptor counts, error matchers.

#include <dirent.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/wait.h>
#include <stdlib.h>
#include <unistd.h>

#include <catch2/catch.hpp>

#include <tempfile/task.hpp>

#include <cerrno>
#include <coroutine>
#include <cstring>
#include <exception>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iterator>
#include <string>
#include <system_error>

#include "publish_trace.hpp"

namespace test {

/// Durable publishes sync on every filesystem in the tests, so that those counting syncs
/// hold wherever TMPDIR points (tmpfs skips them otherwise); the test of that skip turns it
/// off for itself. (Not `inline`: an inline variable nobody reads is never initialized.)
[[maybe_unused]] static const bool every_filesystem_syncs =
    (tempfile::detail::sync_on_every_filesystem(true), true);

/// A directory made synchronously for one test and removed with everything in it.
class scratch_dir {
 public:
  explicit scratch_dir(const std::filesystem::path& base = std::filesystem::temp_directory_path()) {
    std::string pattern = base / "tempfile-test-XXXXXX";
    if (!::mkdtemp(pattern.data())) throw std::system_error(errno, std::generic_category());
    path_ = pattern;
  }
  ~scratch_dir() {
    std::error_code ec;
    std::filesystem::permissions(path_, std::filesystem::perms::owner_all, ec);
    std::filesystem::remove_all(path_, ec);
  }
  scratch_dir(const scratch_dir&) = delete;
  scratch_dir& operator=(const scratch_dir&) = delete;
  const std::filesystem::path& path() const { return path_; }
  std::filesystem::path operator/(const std::string& name) const { return path_ / name; }
  std::size_t entries() const {
    return static_cast<std::size_t>(std::distance(std::filesystem::directory_iterator(path_),
                                                  std::filesystem::directory_iterator()));
  }

 private:
  std::filesystem::path path_;
};

/// A small tmpfs mounted inside a scratch directory, to fill up on purpose. Mounting needs
/// root (or CAP_SYS_ADMIN); `mounted()` says whether it worked.
class tiny_tmpfs {
 public:
  explicit tiny_tmpfs(const std::string& size) : where_(dir_ / "tiny") {
    std::filesystem::create_directory(where_);
    mounted_ = ::mount("tmpfs", where_.c_str(), "tmpfs", 0, ("size=" + size).c_str()) == 0;
    if (!mounted_) error_ = errno;
  }
  ~tiny_tmpfs() {
    if (mounted_) ::umount2(where_.c_str(), MNT_DETACH);
  }
  tiny_tmpfs(const tiny_tmpfs&) = delete;
  tiny_tmpfs& operator=(const tiny_tmpfs&) = delete;

  bool mounted() const { return mounted_; }
  std::string why_not() const { return std::generic_category().message(error_); }
  const std::filesystem::path& path() const { return where_; }
  void resize(const std::string& size) {
    REQUIRE(::mount("tmpfs", where_.c_str(), "tmpfs", MS_REMOUNT, ("size=" + size).c_str()) == 0);
  }
  /// True if every block is free again (nothing written there survives).
  bool empty() const {
    struct statvfs fs;
    REQUIRE(::statvfs(where_.c_str(), &fs) == 0);
    return fs.f_bfree == fs.f_blocks;
  }

 private:
  scratch_dir dir_;
  std::filesystem::path where_;
  bool mounted_ = false;
  int error_ = 0;
};

/// Declares `name`, a tiny_tmpfs of `size`, or warns and leaves the test case where this
/// machine cannot mount one (a container without the capability).
#define TEST_TINY_TMPFS_OR_SKIP(name, size)                                   \
  test::tiny_tmpfs name(size);                                              \
  if (!name.mounted()) {                                                    \
    WARN("cannot mount a tmpfs here (" << name.why_not() << "): skipped"); \
    return;                                                                 \
  }

/// A pipe (close-on-exec), closed at the end of the test: a read of it nobody writes to
/// stays in flight until cancelled.
struct pipe_pair {
  int fds[2];
  pipe_pair() { REQUIRE(::pipe2(fds, O_CLOEXEC) == 0); }
  ~pipe_pair() {
    ::close(fds[0]);
    ::close(fds[1]);
  }
  pipe_pair(const pipe_pair&) = delete;
  pipe_pair& operator=(const pipe_pair&) = delete;
};

/// Descriptors an io_ring holds while it lives: the io_uring, and the eventfd through
/// which other threads wake it (io_ring::post).
inline constexpr int fds_per_ring = 2;

/// Number of descriptors this process has open.
inline int open_fds() {
  int count = 0;
  for ([[maybe_unused]] auto& entry : std::filesystem::directory_iterator("/proc/self/fd"))
    ++count;
  return count - 1;  // the iterator's own descriptor
}

inline std::string slurp(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

/// Matches a std::system_error carrying `errno_value`.
class errno_matcher : public Catch::MatcherBase<std::system_error> {
 public:
  explicit errno_matcher(int e) : expected_(e) {}
  bool match(const std::system_error& e) const override {
    return e.code() == std::error_code(expected_, std::generic_category());
  }
  std::string describe() const override {
    return "has errno " + std::to_string(expected_) + " (" +
           std::generic_category().message(expected_) + ")";
  }

 private:
  int expected_;
};
inline errno_matcher has_errno(int e) { return errno_matcher(e); }

/// The errno of the `std::system_error` that awaiting `awaited` throws; 0 if it throws none.
template <class T>
tempfile::task<int> errno_when_awaited(tempfile::task<T> awaited) {
  int error = 0;
  try {
    co_await awaited;
  } catch (const std::system_error& e) {
    error = e.code().value();
  }
  co_return error;
}

/// Sets the umask for as long as it lives.
class umask_guard {
 public:
  explicit umask_guard(mode_t mask) : previous_(::umask(mask)) {}
  ~umask_guard() { ::umask(previous_); }
  umask_guard(const umask_guard&) = delete;
  umask_guard& operator=(const umask_guard&) = delete;

 private:
  mode_t previous_;
};

/// Caps the size of files this process writes (RLIMIT_FSIZE) at `limit()` bytes, for as
/// long as it lives, with SIGXFSZ ignored: a write crossing the cap is cut short there, and
/// the next fails with EFBIG. `lift()` restores the old cap early.
class file_size_cap {
 public:
  explicit file_size_cap(rlim_t bytes) : handler_(::signal(SIGXFSZ, SIG_IGN)) {
    REQUIRE(::getrlimit(RLIMIT_FSIZE, &saved_) == 0);
    struct rlimit capped = saved_;
    capped.rlim_cur = bytes;
    REQUIRE(::setrlimit(RLIMIT_FSIZE, &capped) == 0);
  }
  ~file_size_cap() {
    lift();
    ::signal(SIGXFSZ, handler_);
  }
  file_size_cap(const file_size_cap&) = delete;
  file_size_cap& operator=(const file_size_cap&) = delete;
  void lift() { ::setrlimit(RLIMIT_FSIZE, &saved_); }

 private:
  struct rlimit saved_;
  decltype(SIG_IGN) handler_;
};

/// Runs `body` in a child process with /proc unmounted in a mount namespace of its own and
/// checks that it returns 0 (what it puts in `report` is shown otherwise). Skipped with a
/// warning where the child cannot unmount /proc.
inline void check_without_proc(const std::function<int(std::string& report)>& body) {
  constexpr int cannot_run = 77;
  std::string message;
  int pipe_fds[2];
  REQUIRE(::pipe2(pipe_fds, O_CLOEXEC) == 0);
  const pid_t pid = ::fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    std::string report;
    int code = cannot_run;
    if (::unshare(CLONE_NEWNS) != 0 || ::mount("none", "/", "none", MS_REC | MS_PRIVATE, nullptr) != 0 ||
        ::umount2("/proc", MNT_DETACH) != 0)
      report = std::string("cannot unmount /proc privately: ") + std::strerror(errno);
    else
      code = body(report);
    (void)!::write(pipe_fds[1], report.data(), report.size());
    ::_exit(code);
  }
  ::close(pipe_fds[1]);
  char buffer[512];
  ssize_t n;
  while ((n = ::read(pipe_fds[0], buffer, sizeof buffer)) > 0) message.append(buffer, static_cast<std::size_t>(n));
  ::close(pipe_fds[0]);
  int status = 0;
  ::waitpid(pid, &status, 0);
  const int code = WIFEXITED(status) ? WEXITSTATUS(status) : 128;
  if (code == cannot_run) {
    WARN("skipped: " << message);
    return;
  }
  CAPTURE(message);
  CHECK(code == 0);
}

/// A coroutine that sets `flag` when resumed: an `on_drained` for op_scope::cancel.
struct flag_setter {
  struct promise_type {
    flag_setter get_return_object() {
      return {std::coroutine_handle<promise_type>::from_promise(*this)};
    }
    std::suspend_always initial_suspend() noexcept { return {}; }
    std::suspend_always final_suspend() noexcept { return {}; }
    void return_void() noexcept {}
    void unhandled_exception() noexcept { std::terminate(); }
  };
  std::coroutine_handle<promise_type> handle;
};

inline flag_setter set_when_resumed(bool& flag) {
  flag = true;
  co_return;
}

}  // namespace test
