// spooled_temporary_file: Python's rollover rules, a model check, no loss on a full disk.

#include <sys/stat.h>
#include <unistd.h>


#include <tempfile/tempfile.hpp>

#include "file_model.hpp"
#include "support.hpp"

using namespace tempfile;
using test::has_errno;

namespace {

std::string xs(std::size_t n) { return std::string(n, 'x'); }

}  // namespace

TEST_CASE("spooled: writes within max_size stay in memory (Python's cases)", "[spooled]") {
  test::scratch_dir dir;
  io_ring ring;
  auto run = [&]() -> task<void> {
    spooled_temporary_file five(ring, options().max_size(30).dir(dir.path()));
    for (int i = 0; i < 5; ++i) {
      five.seek(0);
      co_await five.write(xs(20));
    }
    CHECK_FALSE(five.rolled_over());

    spooled_temporary_file exact(ring, options().max_size(30).dir(dir.path()));
    co_await exact.write(xs(20));
    co_await exact.write(xs(10));
    CHECK_FALSE(exact.rolled_over());  // exactly max_size bytes may stay
    co_await exact.write("y");
    CHECK(exact.rolled_over());  // the 31st byte rolls over
    CHECK(exact.tell() == 31);
    exact.seek(0);
    const auto got1 = co_await exact.read();
    CHECK(got1 == xs(30) + "y");

    spooled_temporary_file sparse(ring, options().max_size(30).dir(dir.path()));
    sparse.seek(100);
    CHECK_FALSE(sparse.rolled_over());
    co_await sparse.write("x");
    CHECK(sparse.rolled_over());
    sparse.seek(0);
    const auto got2 = co_await sparse.read();
    CHECK(got2 == std::string(100, '\0') + "x");

    spooled_temporary_file empty_write(ring, options().max_size(30).dir(dir.path()));
    empty_write.seek(31);
    co_await empty_write.write("");  // Python checks the position after every write
    CHECK(empty_write.rolled_over());
    CHECK(empty_write.tell() == 31);
    const auto got3 = co_await empty_write.read();
    CHECK(got3.empty());
    spooled_temporary_file empty_lines(ring, options().max_size(30).dir(dir.path()));
    empty_lines.seek(31);
    co_await empty_lines.writelines(std::vector<std::string>());
    CHECK(empty_lines.rolled_over());
    // Appending moves the position back below max_size before the check at the end.
    spooled_temporary_file appending(ring, options().max_size(30).mode("a+b").dir(dir.path()));
    appending.seek(31);
    const std::vector<std::string> lines{"", "x", ""};  // g++ 12: no braced temporary in co_await
    co_await appending.writelines(lines);
    CHECK_FALSE(appending.rolled_over());
    CHECK(appending.tell() == 1);

    spooled_temporary_file unlimited(ring, options().max_size(0).dir(dir.path()));
    co_await unlimited.write(xs(1 << 20));
    CHECK_FALSE(unlimited.rolled_over());
  };
  sync_wait(ring, run());
  CHECK(dir.entries() == 0);
}

TEST_CASE("spooled: fileno and rollover roll over, keeping position and contents", "[spooled]") {
  test::scratch_dir dir;
  io_ring ring;
  auto run = [&]() -> task<void> {
    spooled_temporary_file file(ring, options().max_size(30).dir(dir.path()));
    co_await file.write("hello world");
    file.seek(6);
    const int fd = co_await file.fileno();
    CHECK(file.rolled_over());
    CHECK(file.tell() == 6);
    struct stat st;
    REQUIRE(::fstat(fd, &st) == 0);
    CHECK(st.st_size == 11);
    const auto got3 = co_await file.read();
    CHECK(got3 == "world");
    co_await file.rollover();  // idempotent
    const auto got4 = co_await file.fileno();
    CHECK(got4 == fd);

    spooled_temporary_file explicit_roll(ring, options().max_size(30).dir(dir.path()));
    co_await explicit_roll.write("abc");
    co_await explicit_roll.rollover();
    CHECK(explicit_roll.rolled_over());
    CHECK(explicit_roll.tell() == 3);
  };
  sync_wait(ring, run());
}

TEST_CASE("spooled: truncate rolls over only past max_size", "[spooled]") {
  test::scratch_dir dir;
  io_ring ring;
  auto run = [&]() -> task<void> {
    spooled_temporary_file file(ring, options().max_size(10).dir(dir.path()));
    co_await file.write("abcdefgh");
    file.seek(6);
    const auto got5 = co_await file.truncate();
    CHECK(got5 == 6);
    const auto got6 = co_await file.truncate(4);
    CHECK(got6 == 4);
    CHECK_FALSE(file.rolled_over());
    const auto got7 = co_await file.truncate(20);
    CHECK(got7 == 20);
    CHECK(file.rolled_over());
    struct stat st;
    REQUIRE(::fstat(co_await file.fileno(), &st) == 0);
    CHECK(st.st_size == 20);
    CHECK(file.tell() == 6);
    file.seek(0);
    const auto got8 = co_await file.read();
    CHECK(got8 == std::string("abcd") + std::string(16, '\0'));
  };
  sync_wait(ring, run());
}

TEST_CASE("spooled: close is idempotent before and after rollover", "[spooled]") {
  test::scratch_dir dir;
  io_ring ring;
  const int fds_before = test::open_fds();
  auto run = [&]() -> task<void> {
    spooled_temporary_file memory(ring, options().dir(dir.path()));
    co_await memory.write("x");
    co_await memory.close();
    co_await memory.close();
    CHECK(memory.closed());
    CHECK_THROWS_MATCHES(co_await memory.write("x"), std::system_error, has_errno(EBADF));
    CHECK_THROWS_MATCHES(co_await memory.readline(0), std::system_error, has_errno(EBADF));
    CHECK_THROWS_MATCHES(co_await memory.writelines(std::vector<std::string>()),
                         std::system_error, has_errno(EBADF));

    spooled_temporary_file rolled(ring, options().dir(dir.path()));
    co_await rolled.rollover();
    co_await rolled.close();
    co_await rolled.close();
    CHECK(rolled.closed());
    CHECK_THROWS_MATCHES(co_await rolled.read(), std::system_error, has_errno(EBADF));
  };
  sync_wait(ring, run());
  CHECK(test::open_fds() == fds_before);
}

TEST_CASE("spooled: an invalid mode is refused at construction", "[spooled]") {
  io_ring ring;
  CHECK_THROWS_AS(spooled_temporary_file(ring, options().mode("z")), std::invalid_argument);
}

TEST_CASE("spooled: random calls match a reference across rollovers", "[spooled][model]") {
  test::scratch_dir dir;
  io_ring ring;
  for (std::uint64_t seed = 11; seed <= 16; ++seed) {
    std::mt19937_64 rng(seed);
    const std::size_t max_size = seed == 11 ? 0 : static_cast<std::size_t>(rng() % 600'000);
    CAPTURE(seed, max_size);
    test::reference_file ref(dir.path());
    auto run = [&]() -> task<void> {
      spooled_temporary_file file(ring, options().max_size(max_size).dir(dir.path()));
      co_await test::check_against_reference(file, ref, seed, 5000, 400'000);
      if (seed % 2 == 0) co_await file.rollover();  // explicit rollover mid-sequence
      co_await test::check_against_reference(file, ref, seed * 1000, 5000, 400'000);
      co_await file.close();
    };
    sync_wait(ring, run());
  }
  CHECK(dir.entries() == 0);
}

TEST_CASE("spooled: link publishes the contents from memory or from disk", "[spooled][link]") {
  test::scratch_dir dir;
  io_ring ring;
  auto run = [&]() -> task<void> {
    spooled_temporary_file memory(ring, options().max_size(1000).dir(dir.path()));
    co_await memory.write("in memory");
    co_await memory.link(dir / "from_memory");
    CHECK_FALSE(memory.rolled_over());
    CHECK_THROWS_MATCHES(co_await memory.link(dir / "from_memory"), std::system_error,
                         has_errno(EEXIST));

    spooled_temporary_file disk(ring, options().max_size(4).dir(dir.path()));
    co_await disk.write("on disk now");
    CHECK(disk.rolled_over());
    co_await disk.link(dir / "from_disk");
  };
  sync_wait(ring, run());
  CHECK(test::slurp(dir / "from_memory") == "in memory");
  CHECK(test::slurp(dir / "from_disk") == "on disk now");
  CHECK(dir.entries() == 2);
}

TEST_CASE("spooled: a rollover that hits ENOSPC loses nothing and can be retried",
          "[spooled][enospc]") {
  TEST_TINY_TMPFS_OR_SKIP(tiny, "1m");
  const auto& mount_point = tiny.path();

  io_ring ring;
  const int fds_before = test::open_fds();
  std::mt19937_64 rng(7);
  const std::string data = test::random_bytes(rng, 3 << 20);  // more than the tmpfs holds
  spooled_temporary_file file(ring, options().max_size(2 << 20).dir(mount_point));
  auto write_all = [&]() -> task<void> {
    for (std::size_t at = 0; at < data.size(); at += 64 * 1024)
      co_await file.write(std::string_view(data).substr(at, 64 * 1024));
  };
  CHECK_THROWS_MATCHES(sync_wait(ring, write_all()), std::system_error, has_errno(ENOSPC));
  CHECK_FALSE(file.rolled_over());
  CHECK(test::open_fds() == fds_before);  // the partial file was closed
  CHECK(tiny.empty());  // and its blocks freed

  const auto written_so_far = static_cast<std::size_t>(file.tell());
  CHECK(written_so_far > (2u << 20));  // the triggering write is kept too
  auto read_back = [&]() -> task<std::string> {
    file.seek(0);
    co_return co_await file.read();
  };
  CHECK(sync_wait(ring, read_back()) == data.substr(0, written_so_far));

  tiny.resize("8m");
  sync_wait(ring, file.rollover());
  CHECK(file.rolled_over());
  CHECK(sync_wait(ring, read_back()) == data.substr(0, written_so_far));
}

TEST_CASE("spooled: a write decides memory or file when awaited, not when made",
          "[spooled][lazy]") {
  test::scratch_dir dir;
  io_ring ring;
  auto run = [&]() -> task<void> {
    spooled_temporary_file spool(ring, options().max_size(10).dir(dir.path()));
    {
      task<std::size_t> dropped = spool.write("never");
    }
    CHECK(spool.tell() == 0);
    const std::string six = xs(6);  // a write borrows its bytes until awaited
    task<std::size_t> later = spool.write(six);  // fits now; not after the next write
    co_await spool.write("12345");
    CHECK_FALSE(spool.rolled_over());
    const std::size_t written = co_await later;
    CHECK(written == 6);
    CHECK(spool.rolled_over());
    spool.seek(0);
    const std::string contents = co_await spool.read();
    CHECK(contents == "12345" + xs(6));

    spooled_temporary_file closed(ring, options().dir(dir.path()));
    task<std::size_t> after_close = closed.write("x");
    co_await closed.close();
    const int error = co_await test::errno_when_awaited(std::move(after_close));
    CHECK(error == EBADF);
    co_await spool.close();
  };
  sync_wait(ring, run());
}
