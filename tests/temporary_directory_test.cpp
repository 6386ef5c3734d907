// temporary_directory: creation, recursive cleanup through descriptors, permission repair
// inside the tree only, symlinks never followed (also while the tree is being swapped
// under it), error reporting, destruction and moves.

#include <fcntl.h>
#include <grp.h>
#include <linux/fs.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <tempfile/temporary_directory.hpp>
#include <tempfile/tempfile.hpp>

#include <atomic>
#include <chrono>
#include <cstring>
#include <iterator>
#include <functional>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "support.hpp"
#include "test_hooks.hpp"

using namespace tempfile;
using test::has_errno;
namespace fs = std::filesystem;

namespace {

/// Collects failed expectations of a scenario that may run in a forked child, where
/// Catch's assertions cannot report; empty means every expectation held.
class findings {
 public:
  void expect(bool holds, const std::string& what) {
    if (!holds) report_ += what + '\n';
  }
  const std::string& report() const { return report_; }

 private:
  std::string report_;
};

using scenario = std::function<std::string(const fs::path& base)>;

mode_t mode_of(const fs::path& p) {
  struct stat st {};
  if (::lstat(p.c_str(), &st) != 0) return static_cast<mode_t>(-1);
  return st.st_mode & 07777;
}

std::size_t entries_in(const fs::path& p) {
  std::error_code ec;
  return static_cast<std::size_t>(
      std::distance(fs::directory_iterator(p, ec), fs::directory_iterator()));
}

bool present(const fs::path& p) {
  struct stat st;
  return ::lstat(p.c_str(), &st) == 0;
}

void write_file(const fs::path& p, mode_t mode) {
  const int fd = ::open(p.c_str(), O_CREAT | O_WRONLY | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) throw std::system_error(errno, std::generic_category(), "open " + p.string());
  (void)!::write(fd, "data", 4);
  ::close(fd);
  if (::chmod(p.c_str(), mode) != 0)
    throw std::system_error(errno, std::generic_category(), "chmod " + p.string());
}

void make_dir(const fs::path& p) {
  if (::mkdir(p.c_str(), 0700) != 0)
    throw std::system_error(errno, std::generic_category(), "mkdir " + p.string());
}

void set_mode(const fs::path& p, mode_t mode) {
  if (::chmod(p.c_str(), mode) != 0)
    throw std::system_error(errno, std::generic_category(), "chmod " + p.string());
}

/// Files of every owner mode, nested directories, directories the owner cannot read,
/// enter or write into (with content), a fifo and a dangling symlink; the root ends 0500.
void populate(const fs::path& root) {
  make_dir(root / "files");
  for (mode_t mode = 0; mode <= 0700; mode += 0100)
    write_file(root / "files" / "f" += std::to_string(mode), mode);
  make_dir(root / "a");
  make_dir(root / "a/b");
  make_dir(root / "a/b/c");
  for (const char* dir : {"a", "a/b", "a/b/c"})
    for (int i = 0; i < 5; ++i) write_file(root / dir / "x" += std::to_string(i), 0600);
  struct locked {
    const char* path;
    mode_t mode;
  };
  const locked dirs[] = {{"readonly", 0500},   {"readonly/sub", 0500}, {"none", 0000},
                         {"none/inner", 0000}, {"none/inner/deeper", 0000},
                         {"noread", 0300},     {"nosearch", 0600},     {"nowrite_nosearch", 0400}};
  for (const auto& d : dirs) {
    make_dir(root / d.path);
    write_file(root / d.path / "file", 0400);
  }
  if (::mkfifo((root / "fifo").c_str(), 0600) != 0 ||
      ::symlink("nowhere", (root / "dangling").c_str()) != 0)
    throw std::system_error(errno, std::generic_category(), "mkfifo/symlink");
  for (auto d = std::rbegin(dirs); d != std::rend(dirs); ++d) set_mode(root / d->path, d->mode);
  set_mode(root, 0500);
}

/// A directory outside the tree (0500) holding the file "keep": what cleanup must not touch.
fs::path make_outside_directory(const fs::path& base) {
  const fs::path outside = base / "outside";
  make_dir(outside);
  write_file(outside / "keep", 0600);
  set_mode(outside, 0500);
  return outside;
}

/// Runs `body` in this process, in a fresh scratch directory.
void run_here(const scenario& body) {
  test::scratch_dir base;
  CHECK(body(base.path()) == "");
}

/// Runs `body` as a user without privileges, so that permissions are enforced on it: in
/// this process if it has none, else in a forked child that becomes `nobody` and builds
/// its files itself. Warns and skips when that is impossible here.
void run_unprivileged(const scenario& body) {
  if (::geteuid() != 0) return run_here(body);
  constexpr int cannot_run = 77;
  int pipe_fds[2];
  REQUIRE(::pipe2(pipe_fds, O_CLOEXEC) == 0);
  const pid_t pid = ::fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    ::close(pipe_fds[0]);
    auto finish = [&](int code, const std::string& message) {
      (void)!::write(pipe_fds[1], message.data(), message.size());
      ::_exit(code);
    };
    constexpr uid_t nobody = 65534;
    if (::setgroups(0, nullptr) != 0 || ::setresgid(nobody, nobody, nobody) != 0 ||
        ::setresuid(nobody, nobody, nobody) != 0)
      finish(cannot_run, "cannot become nobody: " + std::string(std::strerror(errno)));
    std::string base = (fs::temp_directory_path() / "tempfile-nobody-XXXXXX").string();
    if (!::mkdtemp(base.data()))
      finish(cannot_run, "nobody cannot create a directory in " +
                             fs::temp_directory_path().string());
    std::string report;
    int code = 0;
    try {
      io_ring probe;
    } catch (const std::exception& e) {
      report = std::string("nobody cannot use io_uring: ") + e.what();
      code = cannot_run;
    }
    if (code == 0) {
      try {
        report = body(base);
      } catch (const std::exception& e) {
        report = std::string("exception: ") + e.what();
      }
      code = report.empty() ? 0 : 1;
    }
    std::error_code ignored;
    fs::remove_all(base, ignored);
    finish(code, report);
  }
  ::close(pipe_fds[1]);
  std::string report;
  char chunk[512];
  for (ssize_t n; (n = ::read(pipe_fds[0], chunk, sizeof chunk)) > 0;)
    report.append(chunk, static_cast<std::size_t>(n));
  ::close(pipe_fds[0]);
  int status = 0;
  REQUIRE(::waitpid(pid, &status, 0) == pid);
  REQUIRE(WIFEXITED(status));
  if (WEXITSTATUS(status) == cannot_run) {
    WARN("skipped as an unprivileged user: " << report);
    return;
  }
  CHECK(report == "");
  CHECK(WEXITSTATUS(status) == 0);
}

std::string removes_tree_with_locked_directories(const fs::path& base) {
  findings f;
  io_ring ring;
  const int fds_before = test::open_fds();
  {
    auto dir = sync_wait(ring, temporary_directory::create(ring, options().dir(base)));
    populate(dir.path());
    sync_wait(ring, dir.cleanup());
    f.expect(!present(dir.path()), "tree still present after cleanup");
  }
  f.expect(test::open_fds() == fds_before, "descriptor leaked");
  f.expect(entries_in(base) == 0, "something left in the base directory");
  return f.report();
}

/// Symlinks inside the tree, also inside directories that need their mode repaired, point
/// at an outside directory (0500, holding a file) and an outside file (0400).
std::string never_follows_symlinks(const fs::path& base) {
  findings f;
  io_ring ring;
  const fs::path outside = make_outside_directory(base);
  const fs::path outside_file = base / "outside-file";
  write_file(outside_file, 0400);

  auto dir = sync_wait(ring, temporary_directory::create(ring, options().dir(base)));
  const fs::path& root = dir.path();
  make_dir(root / "readonly");
  make_dir(root / "none");
  for (const fs::path& at : {root, root / "readonly", root / "none"}) {
    fs::create_directory_symlink(outside, at / "to-dir");
    fs::create_symlink(outside_file, at / "to-file");
  }
  set_mode(root / "readonly", 0500);
  set_mode(root / "none", 0000);
  sync_wait(ring, dir.cleanup());

  f.expect(!present(root), "tree still present");
  f.expect(present(outside / "keep"), "file in the outside directory removed");
  f.expect(mode_of(outside) == 0500, "outside directory's mode changed");
  f.expect(present(outside_file), "outside file removed");
  f.expect(mode_of(outside_file) == 0400, "outside file's mode changed");
  set_mode(outside, 0700);
  return f.report();
}

/// A racing thread keeps replacing a read-only directory of the tree by a symlink to an
/// outside directory and back while cleanup runs.
std::string survives_symlink_swaps(const fs::path& base) {
  findings f;
  io_ring ring;
  const fs::path outside = make_outside_directory(base);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(1500);
  int rounds = 0;
  while (std::chrono::steady_clock::now() < deadline && f.report().empty()) {
    ++rounds;
    auto dir = sync_wait(
        ring, temporary_directory::create(ring, options().dir(base).ignore_cleanup_errors(true)));
    const fs::path victim = dir.path() / "victim";
    const fs::path parked = dir.path() / "parked";
    make_dir(victim);
    for (int i = 0; i < 50; ++i) write_file(victim / std::to_string(i), 0600);
    set_mode(victim, 0500);

    std::atomic<bool> stop = false;
    std::atomic<int> swaps = 0;
    std::thread racer([&] {
      // Each state lasts about as long as a batch of unlinks, so cleanup meets both.
      auto hold = [] {
        const auto until = std::chrono::steady_clock::now() + std::chrono::microseconds(20);
        while (std::chrono::steady_clock::now() < until) {
        }
      };
      while (!stop) {
        if (::rename(victim.c_str(), parked.c_str()) == 0) {
          (void)::symlink(outside.c_str(), victim.c_str());
          hold();
          (void)::unlink(victim.c_str());
          (void)::rename(parked.c_str(), victim.c_str());
        }
        ++swaps;
        hold();
      }
    });
    while (swaps < 2) std::this_thread::yield();
    sync_wait(ring, dir.cleanup());
    stop = true;
    racer.join();

    f.expect(present(outside / "keep"), "outside file removed in round " + std::to_string(rounds));
    f.expect(mode_of(outside) == 0500, "outside mode changed in round " + std::to_string(rounds));
    sync_wait(ring, dir.cleanup());  // what the racer put back meanwhile
    f.expect(!present(dir.path()), "tree left after the race in round " + std::to_string(rounds));
  }
  set_mode(outside, 0700);
  return f.report();
}

/// The root's parent (outside the tree) forbids removing the root: everything inside goes,
/// the error names the root, the parent's mode is left alone; a later cleanup retries.
std::string reports_errors_and_retries(const fs::path& base) {
  findings f;
  io_ring ring;
  const fs::path parent = base / "parent";
  make_dir(parent);
  for (bool ignore : {false, true}) {
    auto dir = sync_wait(ring, temporary_directory::create(
                                   ring, options().dir(parent).ignore_cleanup_errors(ignore)));
    make_dir(dir.path() / "sub");
    write_file(dir.path() / "sub/file", 0600);
    write_file(dir.path() / "file", 0600);
    set_mode(parent, 0500);
    std::string error;
    try {
      sync_wait(ring, dir.cleanup());
    } catch (const std::system_error& e) {
      error = e.what();
      f.expect(e.code() == std::error_code(EACCES, std::generic_category()), "not EACCES");
    }
    const std::string expected = ignore ? "" : "rmdir " + dir.path().string();
    f.expect(error.find(expected) != std::string::npos,
             "error '" + error + "' does not name '" + expected + "'");
    if (ignore) f.expect(error.empty(), "threw despite ignore_cleanup_errors: " + error);
    f.expect(present(dir.path()) && entries_in(dir.path()) == 0,
             "contents not removed");
    f.expect(mode_of(parent) == 0500, "mode of the directory outside the tree changed");
    set_mode(parent, 0700);
    sync_wait(ring, dir.cleanup());
    f.expect(!present(dir.path()), "a second cleanup did not finish the removal");
  }
  return f.report();
}

}  // namespace

TEST_CASE("temporary_directory::create makes a private directory named as asked",
          "[temporary_directory]") {
  io_ring ring;
  test::scratch_dir base;
  auto dir = sync_wait(ring, temporary_directory::create(
                                 ring, options().dir(base.path()).prefix("pre-").suffix(".d")));
  const fs::path& p = dir.path();
  CHECK(p.is_absolute());
  CHECK(fs::equivalent(p.parent_path(), base.path()));
  const std::string name = p.filename().string();
  CHECK(name.size() == 4 + 8 + 2);
  CHECK(name.starts_with("pre-"));
  CHECK(name.ends_with(".d"));
  REQUIRE(fs::is_directory(fs::symlink_status(p)));
  CHECK(mode_of(p) == 0700);
  CHECK(base.entries() == 1);
  sync_wait(ring, dir.cleanup());
  CHECK(base.entries() == 0);
}

TEST_CASE("temporary_directory::create throws ENOENT for a missing dir, leaving nothing",
          "[temporary_directory]") {
  io_ring ring;
  test::scratch_dir base;
  const int fds_before = test::open_fds();
  CHECK_THROWS_MATCHES(
      sync_wait(ring, temporary_directory::create(ring, options().dir(base / "missing"))),
      std::system_error, has_errno(ENOENT));
  CHECK(base.entries() == 0);
  CHECK(test::open_fds() == fds_before);
}

TEST_CASE("cleanup removes trees with locked files and directories, as root",
          "[temporary_directory]") {
  run_here(removes_tree_with_locked_directories);
}

TEST_CASE("cleanup removes trees with locked files and directories, unprivileged",
          "[temporary_directory]") {
  run_unprivileged(removes_tree_with_locked_directories);
}

TEST_CASE("cleanup without /proc says so when it cannot enter a locked directory",
          "[temporary_directory]") {
  test::scratch_dir base;
  fs::permissions(base.path(), fs::perms::all);  // for nobody too
  test::check_without_proc([&](std::string& report) {
    constexpr uid_t nobody = 65534;
    if (::setgroups(0, nullptr) != 0 || ::setresgid(nobody, nobody, nobody) != 0 ||
        ::setresuid(nobody, nobody, nobody) != 0)
      return (report = "cannot become nobody"), 77;
    try {
      io_ring ring;
      sync_wait(ring, [](io_ring& r, fs::path dir) -> task<void> {
        temporary_directory tree = co_await temporary_directory::create(r, options().dir(dir));
        fs::create_directory(tree.path() / "locked");
        fs::permissions(tree.path() / "locked", fs::perms::none);
        co_await tree.cleanup();
      }(ring, base.path()));
    } catch (const std::system_error& e) {
      report = e.what();
      const bool says_why = report.find("/proc is not mounted") != std::string::npos &&
                            report.find("locked") != std::string::npos;
      return e.code().value() == EACCES && says_why ? 0 : 1;
    }
    return (report = "cleanup succeeded without /proc"), 2;
  });
}

TEST_CASE("cleanup unlinks symlinks without following them", "[temporary_directory]") {
  run_here(never_follows_symlinks);
  run_unprivileged(never_follows_symlinks);
}

TEST_CASE("cleanup never touches the outside when a directory is swapped for a symlink",
          "[temporary_directory]") {
  run_here(survives_symlink_swaps);
  run_unprivileged(survives_symlink_swaps);
}

TEST_CASE("cleanup reports the first error after removing the rest, or ignores it",
          "[temporary_directory]") {
  run_unprivileged(reports_errors_and_retries);
}

TEST_CASE("cleanup issues the unlinks of a directory in one batch", "[temporary_directory]") {
  io_ring ring;
  test::scratch_dir base;
  auto dir = sync_wait(ring, temporary_directory::create(ring, options().dir(base.path())));
  constexpr int files = 100;
  for (int i = 0; i < files; ++i) write_file(dir.path() / std::to_string(i), 0600);
  const ring_stats before = ring.stats();
  sync_wait(ring, dir.cleanup());
  CHECK(base.entries() == 0);
  CHECK(ring.stats().submitted - before.submitted >= files + 1);
  // Awaited one at a time, every enter would carry a single unlink.
  CHECK(ring.stats().largest_submit >= files);
}

TEST_CASE("cleanup of wide and deep trees holds a bounded number of descriptors",
          "[temporary_directory]") {
  io_ring ring;
  test::scratch_dir base;
  auto dir = sync_wait(ring, temporary_directory::create(ring, options().dir(base.path())));
  // 400 siblings, each with a file and a subdirectory holding one, and a chain 40 deep:
  // removed without a bound, the siblings alone would need 400 descriptors at once.
  constexpr int siblings = 400;
  constexpr int depth = 40;
  for (int i = 0; i < siblings; ++i) {
    fs::path sibling = dir.path() / "s";
    sibling += std::to_string(i);
    make_dir(sibling);
    write_file(sibling / "file", 0600);
    make_dir(sibling / "sub");
    write_file(sibling / "sub" / "file", 0400);
  }
  fs::path chain = dir.path();
  for (int i = 0; i < depth; ++i) {
    chain /= "c";
    make_dir(chain);
    write_file(chain / "file", 0600);
  }
  const int fds_before = test::open_fds();
  rlimit saved{};
  REQUIRE(::getrlimit(RLIMIT_NOFILE, &saved) == 0);
  rlimit tight = saved;
  tight.rlim_cur = static_cast<rlim_t>(fds_before + 250);  // depth + 128 + slack, < siblings
  REQUIRE(tight.rlim_cur < saved.rlim_cur);
  REQUIRE(::setrlimit(RLIMIT_NOFILE, &tight) == 0);
  std::string error;
  try {
    sync_wait(ring, dir.cleanup());
  } catch (const std::system_error& e) {
    error = e.what();
  }
  ::setrlimit(RLIMIT_NOFILE, &saved);
  CHECK(error.empty());
  CHECK(base.entries() == 0);
  CHECK(test::open_fds() == fds_before);
}

TEST_CASE("cleanup is idempotent", "[temporary_directory]") {
  io_ring ring;
  test::scratch_dir base;
  auto dir = sync_wait(ring, temporary_directory::create(ring, options().dir(base.path())));
  write_file(dir.path() / "file", 0600);
  sync_wait(ring, dir.cleanup());
  CHECK_FALSE(present(dir.path()));
  // Whatever appears at the same path later is not ours: a second cleanup leaves it.
  make_dir(dir.path());
  sync_wait(ring, dir.cleanup());
  CHECK(present(dir.path()));
}

TEST_CASE("a root removed by someone else is not an error", "[temporary_directory]") {
  io_ring ring;
  test::scratch_dir base;
  auto dir = sync_wait(ring, temporary_directory::create(ring, options().dir(base.path())));
  REQUIRE(::rmdir(dir.path().c_str()) == 0);
  CHECK_NOTHROW(sync_wait(ring, dir.cleanup()));
}

/// Marks a directory append-only (FS_APPEND_FL): nothing in it can be unlinked, even by
/// root. `marked()` is false where the filesystem or the privileges do not allow it.
class append_only_directory {
 public:
  explicit append_only_directory(const fs::path& dir)
      : fd_(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC)) {
    REQUIRE(fd_.get() >= 0);
    marked_ = ::ioctl(fd_.get(), FS_IOC_GETFLAGS, &flags_) == 0 &&
              (flags_ |= FS_APPEND_FL, ::ioctl(fd_.get(), FS_IOC_SETFLAGS, &flags_) == 0);
    if (!marked_) reason_ = std::strerror(errno);
  }
  ~append_only_directory() { release(); }
  bool marked() const { return marked_; }
  const std::string& reason() const { return reason_; }
  void release() {
    if (!marked_) return;
    flags_ &= ~FS_APPEND_FL;
    ::ioctl(fd_.get(), FS_IOC_SETFLAGS, &flags_);
    marked_ = false;
  }

 private:
  unique_fd fd_;
  int flags_ = 0;
  bool marked_ = false;
  std::string reason_;
};

TEST_CASE("cleanup in a filesystem that refuses an unlink throws the first error",
          "[temporary_directory]") {
  io_ring ring;
  test::scratch_dir base;
  auto dir = sync_wait(ring, temporary_directory::create(ring, options().dir(base.path())));
  const fs::path append_only = dir.path() / "append-only";
  make_dir(append_only);
  write_file(append_only / "stuck", 0600);
  write_file(dir.path() / "removable", 0600);
  append_only_directory stuck(append_only);
  if (!stuck.marked()) {
    WARN("skipped: cannot mark a directory append-only here: " << stuck.reason());
    return;
  }
  try {
    sync_wait(ring, dir.cleanup());
    FAIL("cleanup did not throw");
  } catch (const std::system_error& e) {
    CHECK(e.code() == std::error_code(EPERM, std::generic_category()));
    CHECK_THAT(e.what(), Catch::Contains("unlinkat " + (append_only / "stuck").string()));
  }
  CHECK_FALSE(present(dir.path() / "removable"));
  CHECK(present(append_only / "stuck"));
  stuck.release();
  sync_wait(ring, dir.cleanup());
  CHECK_FALSE(present(dir.path()));
}

TEST_CASE("an entry that cannot be removed deep in a tree costs operations in proportion "
          "to the tree, not to its depth", "[temporary_directory]") {
  io_ring ring;
  test::scratch_dir base;
  auto dir = sync_wait(ring, temporary_directory::create(ring, options().dir(base.path())));
  constexpr int depth = 8;
  constexpr int files_per_level = 3;
  fs::path level = dir.path();
  for (int d = 0; d < depth; ++d) {
    level /= "level";
    make_dir(level);
    for (int f = 0; f < files_per_level; ++f) write_file(level / std::to_string(f), 0600);
  }
  append_only_directory deepest(level);
  if (!deepest.marked()) {
    WARN("skipped: cannot mark a directory append-only here: " << deepest.reason());
    return;
  }
  const ring_stats before = ring.stats();
  CHECK_THROWS_MATCHES(sync_wait(ring, dir.cleanup()), std::system_error, has_errno(EPERM));
  const std::uint64_t submitted = ring.stats().submitted - before.submitted;
  CAPTURE(submitted);
  // About one open, rmdir or unlink per entry (33 here); exponential retrying is millions.
  CHECK(submitted < 1000);
  CHECK(present(level / "0"));
  CHECK_FALSE(present(dir.path() / "level" / "0"));  // everything else removable went
  deepest.release();
  sync_wait(ring, dir.cleanup());
  CHECK_FALSE(present(dir.path()));
}

TEST_CASE("a listing chunk that holds only . and .. does not end the cleanup",
          "[temporary_directory]") {
  io_ring ring;
  test::scratch_dir base;
  auto dir = sync_wait(ring, temporary_directory::create(ring, options().dir(base.path())));
  for (int f = 0; f < 5; ++f) write_file(dir.path() / std::to_string(f), 0600);
  make_dir(dir.path() / "sub");
  write_file(dir.path() / "sub" / "inner", 0600);
  // Two 24-byte records: "." and ".." fill the first chunk of every listing; each later
  // chunk holds one of these short names.
  detail::set_listing_chunk_size(48);
  struct restore {
    ~restore() { detail::set_listing_chunk_size(0); }
  } restore_default;
  CHECK_NOTHROW(sync_wait(ring, dir.cleanup()));
  CHECK(base.entries() == 0);
}

TEST_CASE("auto_delete(false) keeps the directory at destruction, cleanup still removes",
          "[temporary_directory]") {
  io_ring ring;
  test::scratch_dir base;
  fs::path kept;
  {
    auto dir = sync_wait(ring, temporary_directory::create(
                                   ring, options().dir(base.path()).auto_delete(false)));
    kept = dir.path();
  }
  CHECK(fs::is_directory(kept));
  auto dir = sync_wait(ring, temporary_directory::create(
                                 ring, options().dir(base.path()).auto_delete(false)));
  write_file(dir.path() / "file", 0600);
  sync_wait(ring, dir.cleanup());
  CHECK_FALSE(present(dir.path()));
}

TEST_CASE("the destructor removes the tree, even after its ring is gone",
          "[temporary_directory]") {
  test::scratch_dir base;
  const int fds_before = test::open_fds();
  std::optional<temporary_directory> dir;
  {
    io_ring ring;
    dir = sync_wait(ring, temporary_directory::create(ring, options().dir(base.path())));
  }
  populate(dir->path());
  dir.reset();
  CHECK(base.entries() == 0);
  CHECK(test::open_fds() == fds_before);
}

TEST_CASE("the destructor's private ring leaves the thread's io-wq limits alone",
          "[temporary_directory]") {
  test::scratch_dir base;
  unsigned limits[2] = {};
  std::thread([&] {  // io-wq settings belong to the thread: keep them off the test runner's
    io_ring ring(ring_options{.max_workers = 3});
    {
      auto dir = sync_wait(ring, temporary_directory::create(ring, options().dir(base.path())));
      populate(dir.path());
    }  // removed on a ring of the destructor's own
    io_uring_register_iowq_max_workers(&ring.native_handle(), limits);  // zeros: just read
  }).join();
  CHECK(limits[0] == 3);
  CHECK(limits[1] == 3);
  CHECK(base.entries() == 0);
}

TEST_CASE("temporary_directory moves ownership", "[temporary_directory]") {
  io_ring ring;
  test::scratch_dir base;
  auto first = sync_wait(ring, temporary_directory::create(ring, options().dir(base.path())));
  const fs::path first_path = first.path();

  temporary_directory moved(std::move(first));
  CHECK(moved.path() == first_path);
  CHECK(first.path().empty());
  sync_wait(ring, first.cleanup());  // owns nothing: removes nothing
  CHECK(fs::is_directory(first_path));

  auto second = sync_wait(ring, temporary_directory::create(ring, options().dir(base.path())));
  const fs::path second_path = second.path();
  moved = std::move(second);  // the directory `moved` owned goes
  CHECK_FALSE(present(first_path));
  CHECK(moved.path() == second_path);
  CHECK(second.path().empty());
  { temporary_directory gone(std::move(moved)); }
  CHECK_FALSE(present(second_path));
  CHECK(base.entries() == 0);
}
