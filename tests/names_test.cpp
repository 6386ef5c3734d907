// mkstemp, mkdtemp and mktemp (CPython's test_tempfile: TestMkstempInner, TestMkstemp,
// TestMkdtemp, TestMktemp, TestRandomNameSequence), plus the error paths and hygiene.

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <tempfile/names.hpp>
#include <tempfile/tempfile.hpp>

#include <fstream>
#include <functional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "module_state.hpp"
#include "support.hpp"

using namespace tempfile;
using test::has_errno;
namespace fs = std::filesystem;

namespace {

constexpr std::string_view alphabet = "abcdefghijklmnopqrstuvwxyz0123456789_";

/// Checks that `path` is `dir / (prefix + 8 characters of the alphabet + suffix)`.
void check_name(const fs::path& path, const fs::path& dir, const std::string& prefix,
                const std::string& suffix) {
  INFO("path: " << path);
  CHECK(path.is_absolute());
  CHECK(path.parent_path() == dir);
  const std::string name = path.filename().string();
  REQUIRE(name.size() == prefix.size() + 8 + suffix.size());
  CHECK(name.substr(0, prefix.size()) == prefix);
  CHECK(name.substr(prefix.size() + 8) == suffix);
  for (char c : name.substr(prefix.size(), 8)) CHECK(alphabet.find(c) != std::string_view::npos);
}

mode_t permissions_of(const fs::path& path) {
  struct stat st;
  REQUIRE(::lstat(path.c_str(), &st) == 0);
  return st.st_mode & 07777;
}

/// A name source that yields `taken` for its first `collisions` names, then `fresh`
/// followed by a counter; it counts every name asked for.
struct colliding_names {
  std::string taken;
  int collisions = 0;
  std::string fresh = "fresh";
  int calls = 0;

  detail::name_source source() {
    return [this] {
      ++calls;
      return calls <= collisions ? taken : fresh + std::to_string(calls);
    };
  }
};

// Both creators under one shape, for the tests they share.
struct creator {
  const char* name;
  std::function<fs::path(io_ring&, const options&)> create;
};
const std::vector<creator>& creators() {
  static const std::vector<creator> all{
      {"mkstemp", [](io_ring& ring,
                     const options& opts) { return sync_wait(ring, mkstemp(ring, opts)).path; }},
      {"mkdtemp",
       [](io_ring& ring, const options& opts) { return sync_wait(ring, mkdtemp(ring, opts)); }},
  };
  return all;
}

}  // namespace

TEST_CASE("mkstemp names prefix + 8 characters + suffix in the absolute dir", "[names]") {
  io_ring ring;
  test::scratch_dir dir;
  SECTION("explicit prefix and suffix") {
    auto file =
        sync_wait(ring, mkstemp(ring, options().prefix("pre-").suffix(".json").dir(dir.path())));
    check_name(file.path, dir.path(), "pre-", ".json");
    CHECK(fs::is_regular_file(file.path));
  }
  SECTION("empty prefix and suffix") {
    auto file = sync_wait(ring, mkstemp(ring, options().prefix("").dir(dir.path())));
    check_name(file.path, dir.path(), "", "");
  }
  SECTION("the default prefix is gettempprefix()") {
    test::module_state_guard state;
    set_template("tpl");
    auto file = sync_wait(ring, mkstemp(ring, options().dir(dir.path())));
    check_name(file.path, dir.path(), "tpl", "");
  }
  SECTION("the default dir is gettempdir()") {
    test::module_state_guard state;
    set_tempdir(dir.path());
    auto file = sync_wait(ring, mkstemp(ring));
    check_name(file.path, dir.path(), gettempprefix(), "");
  }
  SECTION("a relative dir gives an absolute path") {
    fs::create_directory(dir / "sub");
    auto file = [&] {
      test::cwd_guard cwd(dir.path());
      return sync_wait(ring, mkstemp(ring, options().prefix("p").dir("./sub/../sub")));
    }();
    check_name(file.path, dir / "sub", "p", "");
    CHECK(fs::exists(file.path));
  }
  SECTION("text is accepted") {
    auto file = sync_wait(ring, mkstemp(ring, options().text(true).dir(dir.path())));
    CHECK(fs::is_regular_file(file.path));
  }
}

TEST_CASE("mkstemp returns a read-write close-on-exec descriptor of the file", "[names]") {
  io_ring ring;
  test::scratch_dir dir;
  auto file = sync_wait(ring, mkstemp(ring, options().dir(dir.path())));
  REQUIRE(file.fd);
  CHECK((::fcntl(file.fd.get(), F_GETFD) & FD_CLOEXEC) != 0);
  CHECK((::fcntl(file.fd.get(), F_GETFL) & O_ACCMODE) == O_RDWR);
  struct stat by_fd, by_path;
  REQUIRE(::fstat(file.fd.get(), &by_fd) == 0);
  REQUIRE(::stat(file.path.c_str(), &by_path) == 0);
  CHECK(by_fd.st_ino == by_path.st_ino);
  REQUIRE(::pwrite(file.fd.get(), "blat", 4, 0) == 4);
  CHECK(test::slurp(file.path) == "blat");
  file.fd.reset();
  CHECK(fs::exists(file.path));  // the caller owns the file: closing does not delete it
}

TEST_CASE("mkstemp and mkdtemp are awaited with default and braced options", "[names]") {
  test::module_state_guard state;
  test::scratch_dir dir;
  set_tempdir(dir.path());
  io_ring ring;
  auto run = [&]() -> task<std::vector<fs::path>> {
    created_file file = co_await mkstemp(ring);
    created_file braced = co_await mkstemp(ring, {});
    fs::path made = co_await mkdtemp(ring, {});
    co_return std::vector<fs::path>{file.path, braced.path, made};
  };
  const std::vector<fs::path> made = sync_wait(ring, run());
  for (const auto& path : made) check_name(path, dir.path(), gettempprefix(), "");
  CHECK(dir.entries() == 3);
}

TEST_CASE("mkdtemp makes an empty directory with the same name shape", "[names]") {
  io_ring ring;
  test::scratch_dir dir;
  const fs::path made =
      sync_wait(ring, mkdtemp(ring, options().prefix("d-").suffix(".x").dir(dir.path())));
  check_name(made, dir.path(), "d-", ".x");
  CHECK(fs::is_directory(made));
  CHECK(fs::is_empty(made));
}

TEST_CASE("created files are 0600 and directories 0700 whatever the umask", "[names]") {
  io_ring ring;
  test::scratch_dir dir;
  for (const mode_t mask : {mode_t{0}, mode_t{077}}) {
    test::umask_guard umask(mask);
    INFO("umask " << mask);
    CHECK(permissions_of(sync_wait(ring, mkstemp(ring, options().dir(dir.path()))).path) == 0600);
    CHECK(permissions_of(sync_wait(ring, mkdtemp(ring, options().dir(dir.path())))) == 0700);
  }
}

TEST_CASE("mkstemp and mkdtemp take a fresh name after each collision", "[names]") {
  io_ring ring;
  test::scratch_dir dir;
  const fs::path taken = dir / "tmpTAKEN";
  SECTION("with a file") { std::ofstream(taken) << "keep"; }
  SECTION("with a directory") { fs::create_directory(taken); }
  SECTION("with a dangling symlink, which is not followed") {
    fs::create_symlink(dir / "target", taken);
  }
  for (const auto& [name, create] : creators()) {
    INFO(name);
    colliding_names names{"TAKEN", 3, name};
    test::name_source_guard guard(names.source());
    const fs::path made = create(ring, options().prefix("tmp").dir(dir.path()));
    CHECK(names.calls == 4);
    CHECK(made == dir / ("tmp" + std::string(name) + "4"));
    CHECK(fs::exists(made));
  }
  CHECK_FALSE(fs::exists(dir / "target"));
  CHECK(dir.entries() == 3);
}

TEST_CASE("tmp_max collisions in a row throw EEXIST", "[names]") {
  io_ring ring;
  test::scratch_dir dir;
  fs::create_directory(dir / "tmpTAKEN");
  const int fds = test::open_fds();
  for (const auto& [name, create] : creators()) {
    INFO(name);
    colliding_names names{"TAKEN", tmp_max};
    test::name_source_guard guard(names.source());
    CHECK_THROWS_MATCHES(create(ring, options().prefix("tmp").dir(dir.path())), std::system_error,
                         has_errno(EEXIST));
    CHECK(names.calls == tmp_max);
  }
  CHECK(test::open_fds() == fds);
  CHECK(dir.entries() == 1);
}

TEST_CASE("a bad dir throws at once, names it and leaves nothing behind", "[names]") {
  io_ring ring;
  test::scratch_dir dir;
  std::ofstream(dir / "file") << "x";
  struct bad_dir {
    fs::path path;
    int error;
  };
  const std::vector<bad_dir> cases{{dir / "missing", ENOENT}, {dir / "file", ENOTDIR}};
  const int fds = test::open_fds();
  for (const auto& [name, create] : creators()) {
    for (const auto& [bad, error] : cases) {
      INFO(name << " in " << bad);
      colliding_names names;
      test::name_source_guard guard(names.source());
      CHECK_THROWS_MATCHES(create(ring, options().dir(bad)), std::system_error, has_errno(error));
      try {
        create(ring, options().dir(bad));
      } catch (const std::system_error& e) {
        CHECK_THAT(e.what(), Catch::Contains(bad.string()));
      }
      CHECK(names.calls == 2);  // one name per call: no retry
    }
  }
  CHECK(test::open_fds() == fds);
  CHECK(dir.entries() == 1);
}

TEST_CASE("a dir that cannot be written throws EACCES at once", "[names]") {
  test::scratch_dir scratch;
  const fs::path locked = test::make_locked_dir(scratch.path());
  test::check_unprivileged([&]() -> std::string {
    io_ring ring;
    const int fds = test::open_fds();
    std::string failures;
    for (const auto& [name, create] : creators()) {
      colliding_names names;
      test::name_source_guard guard(names.source());
      try {
        create(ring, options().dir(locked));
        failures += std::string(name) + " succeeded; ";
      } catch (const std::system_error& e) {
        if (e.code() != std::errc::permission_denied)
          failures += std::string(name) + ": " + e.what() + "; ";
      }
      if (names.calls != 1) failures += std::string(name) + " retried; ";
    }
    if (test::open_fds() != fds) failures += "a descriptor leaked; ";
    return failures;
  });
  CHECK(fs::is_empty(locked));
}

TEST_CASE("1,000 mkstemp awaited together make 1,000 distinct files", "[names]") {
  io_ring ring;
  test::scratch_dir dir;
  std::vector<task<created_file>> creations;
  for (int i = 0; i < 1000; ++i) creations.push_back(mkstemp(ring, options().dir(dir.path())));
  const std::vector<created_file> files = sync_wait(ring, when_all(std::move(creations)));
  std::set<fs::path> paths;
  std::set<int> fds;
  for (const auto& file : files) {
    paths.insert(file.path);
    fds.insert(file.fd.get());
  }
  CHECK(paths.size() == 1000);
  CHECK(fds.size() == 1000);
  CHECK(dir.entries() == 1000);
}

TEST_CASE("mktemp returns a fresh absolute name and creates nothing", "[names][mktemp]") {
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
  test::scratch_dir dir;
  const fs::path name = mktemp(options().prefix("m-").suffix(".s").dir(dir.path()));
  check_name(name, dir.path(), "m-", ".s");
  CHECK_FALSE(fs::exists(fs::symlink_status(name)));
  CHECK(dir.entries() == 0);

  SECTION("it skips names that exist, even as dangling symlinks") {
    fs::create_symlink(dir / "target", dir / "tmpTAKEN");
    colliding_names names{"TAKEN", 2};
    test::name_source_guard guard(names.source());
    CHECK(mktemp(options().prefix("tmp").dir(dir.path())) == dir / "tmpfresh3");
  }
  SECTION("it throws EEXIST after tmp_max existing names") {
    std::ofstream(dir / "tmpTAKEN") << "x";
    colliding_names names{"TAKEN", tmp_max};
    test::name_source_guard guard(names.source());
    CHECK_THROWS_MATCHES(mktemp(options().prefix("tmp").dir(dir.path())), std::system_error,
                         has_errno(EEXIST));
    CHECK(names.calls == tmp_max);
  }
#pragma GCC diagnostic pop
}

TEST_CASE("a forked child draws different names from its parent", "[names]") {
  // fork(3), and the bare system call, which runs no atfork handler.
  for (const bool bare : {false, true}) {
    CAPTURE(bare);
    test::scratch_dir dir;
    const options opts = options().dir(dir.path());
    (void)detail::random_path(dir.path(), opts);  // the parent's generator is seeded now
    int pipe_fds[2];
    REQUIRE(::pipe2(pipe_fds, O_CLOEXEC) == 0);
    const pid_t child = bare ? static_cast<pid_t>(::syscall(SYS_clone, SIGCHLD, 0, 0, 0, 0))
                             : ::fork();
    REQUIRE(child >= 0);
    if (child == 0) {
      const std::string name = detail::random_path(dir.path(), opts).string();
      const bool sent =
          ::write(pipe_fds[1], name.data(), name.size()) == static_cast<ssize_t>(name.size());
      ::_exit(sent ? 0 : 1);
    }
    ::close(pipe_fds[1]);
    std::string child_name(4096, '\0');
    const ssize_t got = ::read(pipe_fds[0], child_name.data(), child_name.size());
    ::close(pipe_fds[0]);
    int status = 0;
    REQUIRE(::waitpid(child, &status, 0) == child);
    REQUIRE(WIFEXITED(status));
    REQUIRE(WEXITSTATUS(status) == 0);
    REQUIRE(got > 0);
    child_name.resize(static_cast<std::size_t>(got));
    CHECK(child_name != detail::random_path(dir.path(), opts).string());
  }
}

namespace {

/// In a fresh PID namespace, where it is pid 1, draws a name, makes a child that is pid 1 of
/// a namespace of its own, and compares the next names both draw. Exits 0 when they differ,
/// 1 when they are the same, 2 when a step failed, 77 when namespaces are refused.
[[noreturn]] void compare_names_across_equal_pids(const std::filesystem::path& dir) {
  if (::unshare(CLONE_NEWPID) != 0) ::_exit(77);
  const pid_t init = ::fork();
  if (init < 0) ::_exit(2);
  if (init > 0) {
    int status = 0;
    ::_exit(::waitpid(init, &status, 0) == init && WIFEXITED(status) ? WEXITSTATUS(status) : 2);
  }
  // pid 1 here
  (void)detail::random_path(dir, options());  // seeded
  int pipe_fds[2];
  if (::getpid() != 1 || ::pipe2(pipe_fds, O_CLOEXEC) != 0 || ::unshare(CLONE_NEWPID) != 0)
    ::_exit(2);
  const pid_t child = ::fork();
  if (child < 0) ::_exit(2);
  if (child == 0) {  // pid 1 too, with a copy of its parent's generator
    const std::string name = detail::random_path(dir, options()).string();
    const bool sent = ::getpid() == 1 && ::write(pipe_fds[1], name.data(), name.size()) ==
                                             static_cast<ssize_t>(name.size());
    ::_exit(sent ? 0 : 2);
  }
  ::close(pipe_fds[1]);
  std::string child_name(4096, '\0');
  const ssize_t got = ::read(pipe_fds[0], child_name.data(), child_name.size());
  int status = 0;
  if (got <= 0 || ::waitpid(child, &status, 0) != child || !WIFEXITED(status) ||
      WEXITSTATUS(status) != 0)
    ::_exit(2);
  child_name.resize(static_cast<std::size_t>(got));
  ::_exit(child_name == detail::random_path(dir, options()).string() ? 1 : 0);
}

}  // namespace

TEST_CASE("a child with its parent's pid, in a PID namespace of its own, draws different names",
          "[names]") {
  test::scratch_dir dir;
  const pid_t helper = ::fork();
  REQUIRE(helper >= 0);
  if (helper == 0) compare_names_across_equal_pids(dir.path());
  int status = 0;
  REQUIRE(::waitpid(helper, &status, 0) == helper);
  REQUIRE(WIFEXITED(status));
  if (WEXITSTATUS(status) == 77) {
    WARN("PID namespaces refused here (needs root): skipped");
    return;
  }
  CHECK(WEXITSTATUS(status) == 0);
}

TEST_CASE("successive names differ", "[names]") {
  test::scratch_dir dir;
  std::set<fs::path> names;
  for (int i = 0; i < 10000; ++i) names.insert(detail::random_path(dir.path(), options()));
  CHECK(names.size() == 10000);
}

TEST_CASE("a name is the directory joined with prefix, characters and suffix, as by `/`",
          "[names]") {
  test::name_source_guard guard([] { return std::string("abcdefgh"); });
  for (const char* dir : {"/", "/a", "/a/", "/a/b"}) {
    for (const char* prefix : {"p", "", "sub/p", "/abs/p"}) {
      INFO(dir << " " << prefix);
      const fs::path name = detail::random_path(dir, options().prefix(prefix).suffix(".x"));
      const fs::path joined = fs::path(dir) / (std::string(prefix) + "abcdefgh.x");
      CHECK(name.native() == joined.native());
      CHECK(name == joined);
      CHECK(std::distance(name.begin(), name.end()) ==
            std::distance(joined.begin(), joined.end()));
    }
  }
}
