// tempfile::ops: every awaitable's success path and its errno path.

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <tempfile/tempfile.hpp>

#include <cstring>
#include <string>
#include <vector>

#include "support.hpp"

using namespace tempfile;
using test::has_errno;

namespace {

std::span<const std::byte> bytes(std::string_view s) { return std::as_bytes(std::span(s)); }

int open_tmpfile(const test::scratch_dir& dir) {
  const int fd = ::open(dir.path().c_str(), O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
  REQUIRE(fd >= 0);
  return fd;
}

}  // namespace

TEST_CASE("ops::nop completes", "[ops]") {
  io_ring ring;
  auto run = [&]() -> task<void> { co_await ops::nop(ring); };
  sync_wait(ring, run());
}

TEST_CASE("ops::openat opens O_TMPFILE and names the path on error", "[ops]") {
  io_ring ring;
  test::scratch_dir dir;
  const std::string path = dir.path();
  auto open = [&](std::string p, int flags) -> task<int> {
    co_return co_await ops::openat(ring, AT_FDCWD, p.c_str(), flags, 0600);
  };
  const int fd = sync_wait(ring, open(path, O_TMPFILE | O_RDWR | O_CLOEXEC));
  REQUIRE(fd >= 0);
  CHECK((::fcntl(fd, F_GETFD) & FD_CLOEXEC) != 0);
  ::close(fd);
  CHECK(dir.entries() == 0);

  const std::string missing = path + "/missing/file";
  CHECK_THROWS_MATCHES(sync_wait(ring, open(missing, O_RDONLY)), std::system_error,
                       has_errno(ENOENT));
  try {
    sync_wait(ring, open(missing, O_RDONLY));
  } catch (const std::system_error& e) {
    CHECK_THAT(e.what(), Catch::Contains(missing) && Catch::Contains("openat"));
  }
}

TEST_CASE("ops::write and ops::read use explicit offsets", "[ops]") {
  io_ring ring;
  test::scratch_dir dir;
  const int fd = open_tmpfile(dir);
  auto run = [&]() -> task<std::string> {
    const std::size_t second = co_await ops::write(ring, fd, bytes("world"), 6);
    const std::size_t first = co_await ops::write(ring, fd, bytes("hello "), 0);
    CHECK(second == 5);
    CHECK(first == 6);
    std::string back(11, '\0');
    const std::size_t got = co_await ops::read(ring, fd, std::as_writable_bytes(std::span(back)), 0);
    CHECK(got == 11);
    std::string tail(8, '\0');
    const std::size_t past_end =
        co_await ops::read(ring, fd, std::as_writable_bytes(std::span(tail)), 11);
    CHECK(past_end == 0);
    co_return back;
  };
  CHECK(sync_wait(ring, run()) == "hello world");
  ::close(fd);
}

TEST_CASE("ops::read and ops::write on a bad descriptor throw EBADF", "[ops]") {
  io_ring ring;
  std::byte buffer[4];
  auto rd = [&]() -> task<std::size_t> { co_return co_await ops::read(ring, 9999, buffer, 0); };
  auto wr = [&]() -> task<std::size_t> { co_return co_await ops::write(ring, 9999, buffer, 0); };
  CHECK_THROWS_MATCHES(sync_wait(ring, rd()), std::system_error, has_errno(EBADF));
  CHECK_THROWS_MATCHES(sync_wait(ring, wr()), std::system_error, has_errno(EBADF));
  try {
    sync_wait(ring, rd());
  } catch (const std::system_error& e) {
    CHECK_THAT(e.what(), Catch::Contains("read fd 9999"));
  }
}

TEST_CASE("ops::close closes, and throws EBADF for a closed descriptor", "[ops]") {
  io_ring ring;
  test::scratch_dir dir;
  const int fd = open_tmpfile(dir);
  const int before = test::open_fds();
  auto close = [&](int f) -> task<int> { co_return co_await ops::close(ring, f); };
  CHECK(sync_wait(ring, close(fd)) == 0);
  CHECK(test::open_fds() == before - 1);
  CHECK_THROWS_MATCHES(sync_wait(ring, close(fd)), std::system_error, has_errno(EBADF));
}

TEST_CASE("ops::fsync syncs data or data and metadata, EBADF for a bad fd", "[ops]") {
  io_ring ring;
  test::scratch_dir dir;
  const int fd = open_tmpfile(dir);
  auto sync = [&](int f, bool datasync) -> task<int> {
    co_return co_await ops::fsync(ring, f, datasync);
  };
  CHECK(sync_wait(ring, sync(fd, false)) == 0);
  CHECK(sync_wait(ring, sync(fd, true)) == 0);
  CHECK_THROWS_MATCHES(sync_wait(ring, sync(9999, true)), std::system_error, has_errno(EBADF));
  ::close(fd);
}

TEST_CASE("ops::ftruncate sets the size, EINVAL on a read-only descriptor", "[ops]") {
  io_ring ring;
  test::scratch_dir dir;
  const int fd = open_tmpfile(dir);
  auto truncate = [&](int f, std::uint64_t n) -> task<int> {
    co_return co_await ops::ftruncate(ring, f, n);
  };
  CHECK(sync_wait(ring, truncate(fd, 12345)) == 0);
  struct stat st;
  REQUIRE(::fstat(fd, &st) == 0);
  CHECK(st.st_size == 12345);
  CHECK(sync_wait(ring, truncate(fd, 7)) == 0);
  REQUIRE(::fstat(fd, &st) == 0);
  CHECK(st.st_size == 7);
  ::close(fd);

  const auto readonly_path = dir / "ro";
  ::close(::open(readonly_path.c_str(), O_CREAT | O_WRONLY | O_CLOEXEC, 0600));
  const int ro = ::open(readonly_path.c_str(), O_RDONLY | O_CLOEXEC);
  REQUIRE(ro >= 0);
  CHECK_THROWS_MATCHES(sync_wait(ring, truncate(ro, 1)), std::system_error,
                       has_errno(EINVAL) || has_errno(EBADF));
  ::close(ro);
}

TEST_CASE("ops::mkdirat, unlinkat and rmdir, EEXIST and ENOENT", "[ops]") {
  io_ring ring;
  test::scratch_dir dir;
  const std::string sub = dir / "sub";
  auto mkdir = [&](mode_t mode) -> task<int> {
    co_return co_await ops::mkdirat(ring, AT_FDCWD, sub.c_str(), mode);
  };
  auto unlink = [&](std::string p, int flags) -> task<int> {
    co_return co_await ops::unlinkat(ring, AT_FDCWD, p.c_str(), flags);
  };
  const mode_t old_umask = ::umask(0);
  CHECK(sync_wait(ring, mkdir(0751)) == 0);
  ::umask(old_umask);
  struct stat st;
  REQUIRE(::stat(sub.c_str(), &st) == 0);
  CHECK(S_ISDIR(st.st_mode));
  CHECK((st.st_mode & 07777) == 0751);
  CHECK_THROWS_MATCHES(sync_wait(ring, mkdir(0700)), std::system_error, has_errno(EEXIST));

  const std::string file = dir / "file";
  ::close(::open(file.c_str(), O_CREAT | O_WRONLY | O_CLOEXEC, 0600));
  CHECK(sync_wait(ring, unlink(file, 0)) == 0);
  CHECK_FALSE(std::filesystem::exists(file));
  CHECK_THROWS_MATCHES(sync_wait(ring, unlink(file, 0)), std::system_error, has_errno(ENOENT));
  CHECK(sync_wait(ring, unlink(sub, AT_REMOVEDIR)) == 0);
  CHECK(dir.entries() == 0);
}

TEST_CASE("ops::linkat names an O_TMPFILE file atomically, EEXIST when taken", "[ops]") {
  io_ring ring;
  test::scratch_dir dir;
  const int fd = open_tmpfile(dir);
  REQUIRE(::pwrite(fd, "contents", 8, 0) == 8);
  const std::string proc = "/proc/self/fd/" + std::to_string(fd);
  const std::string target = dir / "published";
  auto link = [&]() -> task<int> {
    co_return co_await ops::linkat(ring, AT_FDCWD, proc.c_str(), AT_FDCWD, target.c_str(),
                                   AT_SYMLINK_FOLLOW);
  };
  CHECK(sync_wait(ring, link()) == 0);
  CHECK(test::slurp(target) == "contents");
  CHECK_THROWS_MATCHES(sync_wait(ring, link()), std::system_error, has_errno(EEXIST));
  ::close(fd);
}

TEST_CASE("ops::renameat moves, honours RENAME_NOREPLACE, and reports ENOENT", "[ops]") {
  io_ring ring;
  test::scratch_dir dir;
  const std::string a = dir / "a", b = dir / "b";
  auto rename = [&](unsigned flags) -> task<int> {
    co_return co_await ops::renameat(ring, AT_FDCWD, a.c_str(), AT_FDCWD, b.c_str(), flags);
  };
  std::ofstream(a) << "A";
  CHECK(sync_wait(ring, rename(0)) == 0);
  CHECK(test::slurp(b) == "A");
  CHECK_THROWS_MATCHES(sync_wait(ring, rename(0)), std::system_error, has_errno(ENOENT));
  std::ofstream(a) << "again";
  CHECK_THROWS_MATCHES(sync_wait(ring, rename(RENAME_NOREPLACE)), std::system_error,
                       has_errno(EEXIST));
  CHECK(test::slurp(b) == "A");
}

TEST_CASE("ops::statx reports size and type, ENOENT for a missing path", "[ops]") {
  io_ring ring;
  test::scratch_dir dir;
  const std::string file = dir / "f";
  std::ofstream(file) << "12345";
  auto stat = [&](std::string p) -> task<struct statx> {
    co_return co_await ops::statx(ring, AT_FDCWD, p.c_str(), 0, STATX_SIZE | STATX_TYPE);
  };
  const struct statx st = sync_wait(ring, stat(file));
  CHECK(st.stx_size == 5);
  CHECK(S_ISREG(st.stx_mode));
  CHECK_THROWS_MATCHES(sync_wait(ring, stat(file + ".missing")), std::system_error,
                       has_errno(ENOENT));
}
