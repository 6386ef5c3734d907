// ring_options::unnamed_file_reserve: temporary files opened ahead keep every property of
// a file opened on demand, hold a bounded number of descriptors, leave nothing behind when
// the ring goes, and let errors reach the caller.

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <tempfile/tempfile.hpp>

#include <set>
#include <string>
#include <vector>

#include "support.hpp"

using namespace tempfile;
using test::has_errno;

namespace {

constexpr unsigned reserve = 8;

ring_options with_reserve(unsigned files = reserve) {
  ring_options options;
  options.unnamed_file_reserve = files;
  return options;
}

/// Creates `count` files in `dir` one after another, each written and read back; returns
/// how many distinct inodes they had (all are open at once, so none can be reused).
task<std::size_t> create_one_at_a_time(io_ring& ring, const std::filesystem::path& dir,
                                       int count) {
  std::set<ino_t> inodes;
  std::vector<temporary_file> files;
  for (int i = 0; i < count; ++i) {
    temporary_file file = co_await temporary_file::create(ring, options().dir(dir));
    struct stat st;
    REQUIRE(::fstat(file.fileno(), &st) == 0);
    CHECK((st.st_mode & 07777) == 0600);
    CHECK(st.st_nlink == 0);
    CHECK(st.st_size == 0);
    CHECK((::fcntl(file.fileno(), F_GETFD) & FD_CLOEXEC) != 0);
    CHECK((::fcntl(file.fileno(), F_GETFL) & O_ACCMODE) == O_RDWR);
    inodes.insert(st.st_ino);
    const std::string payload = "file " + std::to_string(i);
    co_await file.write(payload);
    file.seek(0);
    const std::string read_back = co_await file.read();
    CHECK(read_back == payload);
    files.push_back(std::move(file));
  }
  for (temporary_file& file : files) co_await file.close();
  co_return inodes.size();
}

/// Turns the loop until the refills started so far have run and completed. (Every SQE
/// here posts a CQE: the files are closed clean, so no linked write + close is among them.)
task<void> settle(io_ring& ring) {
  do co_await ops::nop(ring);  // a turn, so refills spawned just now submit their opens
  while (ring.stats().completed < ring.stats().submitted);
}

}  // namespace

TEST_CASE("files from the reserve are fresh, private, unnamed files", "[reserve][file]") {
  test::scratch_dir dir;
  const int fds_before = test::open_fds();
  {
    io_ring ring(with_reserve());
    // Every file its own inode: none was handed out twice.
    CHECK(sync_wait(ring, create_one_at_a_time(ring, dir.path(), 50)) == 50);
    CHECK(dir.entries() == 0);
    sync_wait(ring, settle(ring));
    CHECK(test::open_fds() <= fds_before + test::fds_per_ring + static_cast<int>(reserve));
  }
  CHECK(test::open_fds() == fds_before);
  CHECK(dir.entries() == 0);
}

TEST_CASE("the reserve stocks at most four directories", "[reserve][file]") {
  std::vector<test::scratch_dir> dirs(6);
  const int fds_before = test::open_fds();
  {
    io_ring ring(with_reserve());
    auto run = [&]() -> task<void> {
      for (int round = 0; round < 2; ++round)
        for (const auto& dir : dirs) {
          co_await create_one_at_a_time(ring, dir.path(), 1);
          co_await settle(ring);  // each directory stocked before the next comes
        }
    };
    sync_wait(ring, run());
    CHECK(test::open_fds() <= fds_before + test::fds_per_ring + 4 * static_cast<int>(reserve));
  }
  CHECK(test::open_fds() == fds_before);
}

TEST_CASE("a ring destroyed while its reserve refills leaves no descriptor", "[reserve][file]") {
  test::scratch_dir dir;
  const int fds_before = test::open_fds();
  for (int turns = 0; turns < 40; ++turns) {
    CAPTURE(turns);
    io_ring ring(with_reserve(64));
    auto run = [&]() -> task<void> {
      co_await create_one_at_a_time(ring, dir.path(), 1);  // stocks: 64 opens go out
      for (int turn = 0; turn < turns; ++turn) co_await ops::nop(ring);
    };
    sync_wait(ring, run());
  }
  CHECK(test::open_fds() == fds_before);
  CHECK(dir.entries() == 0);
}

TEST_CASE("with a reserve, open errors still reach the caller with the path",
          "[reserve][file][errors]") {
  test::scratch_dir parent;
  const auto dir = parent / "stocked";
  std::filesystem::create_directory(dir);
  const int fds_before = test::open_fds();
  {
    io_ring ring(with_reserve());
    const auto missing = parent / "missing";
    CHECK_THROWS_MATCHES(sync_wait(ring, temporary_file::create(ring, options().dir(missing))),
                         std::system_error, has_errno(ENOENT));

    // Stocked, then removed: the shelf's files were opened while the directory existed and
    // are still handed out; once a refill fails, the next create reports why.
    sync_wait(ring, create_one_at_a_time(ring, dir, 3));
    std::filesystem::remove(dir);
    int created = 0;
    std::string error;
    auto run = [&]() -> task<void> {
      for (; created < 100; ++created) {
        try {
          co_await create_one_at_a_time(ring, dir, 1);
        } catch (const std::system_error& e) {
          CHECK(e.code().value() == ENOENT);
          error = e.what();
          co_return;
        }
      }
    };
    sync_wait(ring, run());
    CHECK(created <= static_cast<int>(reserve));
    CHECK_THAT(error, Catch::Contains(dir.string()));
  }
  CHECK(test::open_fds() == fds_before);
}
