// temporary_file and named_temporary_file: the file protocol against a reference, deletion
// rules, atomic publication, mode enforcement, descriptor hygiene.

#include <fcntl.h>
#include <malloc.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <tempfile/tempfile.hpp>

#include <atomic>
#include <cstring>
#include <exception>
#include <functional>
#include <thread>

#include "file_model.hpp"
#include "support.hpp"
#include "test_hooks.hpp"

using namespace tempfile;
using test::has_errno;

namespace {

constexpr long buffer_sizes[] = {0, 3, -1, 1 << 20};

template <class File>
task<File> make(io_ring& ring, const test::scratch_dir& dir, long buffering,
                std::string mode = "w+b") {
  co_return co_await File::create(ring, options().dir(dir.path()).buffering(buffering).mode(mode));
}

bool on_disk(const std::filesystem::path& p) { return std::filesystem::exists(p); }

}  // namespace

TEMPLATE_TEST_CASE("random protocol calls match a pread/pwrite reference byte for byte",
                   "[file][model]", temporary_file, named_temporary_file) {
  test::scratch_dir dir;
  io_ring ring;
  for (const long buffering : buffer_sizes) {
    for (std::uint64_t seed = 1; seed <= 3; ++seed) {
      CAPTURE(buffering, seed);
      test::reference_file ref(dir.path());
      auto run = [&]() -> task<void> {
        TestType file = co_await make<TestType>(ring, dir, buffering);
        CHECK(file.buffer_size() == (buffering == 0 ? 0u : buffering == -1 ? default_buffer_size
                                                                          : std::size_t(buffering)));
        const std::string contents = co_await test::check_against_reference(file, ref, seed, 1500);
        co_await file.flush();
        std::string on_disk(contents.size(), '\0');
        REQUIRE(::pread(file.fileno(), on_disk.data(), on_disk.size(), 0) ==
                static_cast<ssize_t>(on_disk.size()));
        CHECK(on_disk == contents);
        co_await file.close();
      };
      sync_wait(ring, run());
    }
  }
  CHECK(dir.entries() == 0);
}

TEST_CASE("temporary_file has no name, mode 0600, close-on-exec, and leaves nothing", "[file]") {
  test::scratch_dir dir;
  io_ring ring;
  const int fds_before = test::open_fds();
  auto run = [&]() -> task<void> {
    temporary_file file = co_await temporary_file::create(ring, options().dir(dir.path()));
    CHECK(dir.entries() == 0);
    struct stat st;
    REQUIRE(::fstat(file.fileno(), &st) == 0);
    CHECK((st.st_mode & 07777) == 0600);
    CHECK(st.st_nlink == 0);
    CHECK((::fcntl(file.fileno(), F_GETFD) & FD_CLOEXEC) != 0);
    CHECK(file.mode() == "w+b");
    CHECK(file.readable());
    CHECK(file.writable());
    CHECK(file.seekable());
    CHECK_FALSE(file.isatty());
    co_await file.write("payload");
    co_await file.close();
    CHECK(file.closed());
    co_await file.close();  // idempotent
  };
  sync_wait(ring, run());
  CHECK(test::open_fds() == fds_before);
  CHECK(dir.entries() == 0);
}

TEST_CASE("temporary_file falls back to mkstemp and unlink without O_TMPFILE", "[file]") {
  test::scratch_dir dir;
  io_ring ring;
  detail::simulate_missing_o_tmpfile(true);
  struct restore {
    ~restore() { detail::simulate_missing_o_tmpfile(false); }
  } restore_on_exit;
  auto run = [&]() -> task<void> {
    temporary_file file = co_await temporary_file::create(ring, options().dir(dir.path()));
    CHECK(dir.entries() == 0);  // named, then unlinked at once
    co_await file.write("still works");
    file.seek(0);
    const auto got1 = co_await file.read();
    CHECK(got1 == "still works");
    CHECK_THROWS_MATCHES(co_await file.link(dir / "target"), std::system_error,
                         has_errno(EOPNOTSUPP));
  };
  sync_wait(ring, run());
  CHECK(dir.entries() == 0);
}

TEST_CASE("temporary_file::link publishes complete contents atomically", "[file][link]") {
  test::scratch_dir dir;
  io_ring ring;
  const auto target = dir / "published.bin";
  constexpr std::size_t final_size = 8 << 20;
  std::atomic<bool> stop{false};
  std::atomic<long long> first_seen_size{-1};
  std::thread watcher([&] {
    while (!stop) {
      struct stat st;
      if (::stat(target.c_str(), &st) == 0) {
        first_seen_size = st.st_size;
        return;
      }
    }
  });
  auto run = [&]() -> task<void> {
    temporary_file file = co_await temporary_file::create(ring, options().dir(dir.path()));
    const std::string chunk(4096, 'x');
    for (std::size_t i = 0; i < final_size / chunk.size(); ++i) co_await file.write(chunk);
    co_await file.link(target);  // flushes the buffer first
    while (first_seen_size < 0) std::this_thread::yield();  // let the watcher look first
    co_await file.write("more");  // the file stays open and usable
    co_await file.close();
  };
  struct stop_watching {
    std::atomic<bool>& stop;
    std::thread& watcher;
    ~stop_watching() {
      stop = true;
      watcher.join();
    }
  };
  {
    stop_watching guard{stop, watcher};
    sync_wait(ring, run());
  }
  CHECK(first_seen_size == static_cast<long long>(final_size));
  CHECK(std::filesystem::file_size(target) == final_size + 4);
}

TEST_CASE("temporary_file::link refuses an existing target with EEXIST", "[file][link]") {
  test::scratch_dir dir;
  io_ring ring;
  const auto target = dir / "taken";
  std::ofstream(target) << "original";
  auto run = [&]() -> task<void> {
    temporary_file file = co_await temporary_file::create(ring, options().dir(dir.path()));
    co_await file.write("new");
    CHECK_THROWS_MATCHES(co_await file.link(target), std::system_error, has_errno(EEXIST));
  };
  sync_wait(ring, run());
  CHECK(test::slurp(target) == "original");
}

TEST_CASE("named_temporary_file has an absolute name, mode 0600, and its contents", "[file]") {
  test::scratch_dir dir;
  io_ring ring;
  auto run = [&]() -> task<void> {
    auto file = co_await named_temporary_file::create(
        ring, options().dir(dir.path()).prefix("pre").suffix(".json"));
    CHECK(file.name().is_absolute());
    CHECK(file.name().parent_path() == dir.path());
    const std::string base = file.name().filename();
    CHECK(base.size() == 3 + 8 + 5);
    CHECK(base.rfind("pre", 0) == 0);
    CHECK(base.substr(11) == ".json");
    struct stat st;
    REQUIRE(::stat(file.name().c_str(), &st) == 0);
    CHECK((st.st_mode & 07777) == 0600);
    co_await file.write("{}");
    co_await file.flush();
    CHECK(test::slurp(file.name()) == "{}");
  };
  sync_wait(ring, run());
}

TEST_CASE("named_temporary_file deletion follows Python 3.12", "[file][delete]") {
  struct rule {
    bool auto_delete, delete_on_close;
    bool gone_after_close, gone_after_destroy;
  };
  const rule rules[] = {
      {true, true, true, true},
      {true, false, false, true},
      {false, true, false, false},
  };
  enum class ending { close_then_destroy, destroy, move_then_destroy };
  for (const rule r : rules) {
    for (const ending how : {ending::close_then_destroy, ending::destroy, ending::move_then_destroy}) {
      CAPTURE(r.auto_delete, r.delete_on_close, static_cast<int>(how));
      test::scratch_dir dir;
      io_ring ring;
      std::filesystem::path name;
      auto run = [&]() -> task<void> {
        auto file = co_await named_temporary_file::create(
            ring, options().dir(dir.path()).auto_delete(r.auto_delete).delete_on_close(r.delete_on_close));
        name = file.name();
        co_await file.write("data");
        if (how == ending::close_then_destroy) {
          co_await file.close();
          CHECK(on_disk(name) == !r.gone_after_close);
        } else if (how == ending::move_then_destroy) {
          named_temporary_file moved = std::move(file);
          CHECK(on_disk(name));  // the move deletes nothing
          CHECK(moved.name() == name);
        }
      };
      sync_wait(ring, run());
      CHECK(on_disk(name) == !r.gone_after_destroy);
      if (!r.gone_after_destroy) CHECK(test::slurp(name) == "data");  // flushed, even unclosed
    }
  }
}

TEST_CASE("closing a named file whose name someone else removed or renamed succeeds",
          "[file][delete]") {
  test::scratch_dir dir;
  io_ring ring;
  auto run = [&]() -> task<void> {
    auto removed = co_await named_temporary_file::create(ring, options().dir(dir.path()));
    auto renamed = co_await named_temporary_file::create(ring, options().dir(dir.path()));
    co_await removed.write("gone");
    co_await renamed.write("moved");
    REQUIRE(::unlink(removed.name().c_str()) == 0);
    REQUIRE(::rename(renamed.name().c_str(), (dir / "elsewhere").c_str()) == 0);
    co_await removed.close();
    co_await renamed.close();
    CHECK(removed.closed());
    CHECK(renamed.closed());
  };
  sync_wait(ring, run());
  CHECK(test::slurp(dir / "elsewhere") == "moved");  // flushed before the close
  CHECK(dir.entries() == 1);
}

TEST_CASE("named_temporary_file::persist renames into place and is never deleted", "[file]") {
  test::scratch_dir dir;
  io_ring ring;
  const auto target = dir / "final.txt";
  std::ofstream(target) << "old contents";
  auto run = [&]() -> task<void> {
    auto file = co_await named_temporary_file::create(ring, options().dir(dir.path()));
    const auto old_name = file.name();
    co_await file.write("new contents");
    co_await file.persist(target);
    CHECK_FALSE(on_disk(old_name));
    CHECK(file.name() == target);
    co_await file.close();
  };
  sync_wait(ring, run());
  CHECK(test::slurp(target) == "new contents");
  CHECK(dir.entries() == 1);
}

TEMPLATE_TEST_CASE("closed files, wrong modes and bad modes are refused", "[file][errors]",
                   temporary_file, named_temporary_file) {
  test::scratch_dir dir;
  io_ring ring;
  const int fds_before = test::open_fds();
  auto run = [&]() -> task<void> {
    TestType read_only = co_await make<TestType>(ring, dir, -1, "rb");
    CHECK(read_only.readable());
    CHECK_FALSE(read_only.writable());
    CHECK_THROWS_MATCHES(co_await read_only.write("x"), std::system_error, has_errno(EBADF));
    CHECK_THROWS_MATCHES(co_await read_only.truncate(0), std::system_error, has_errno(EBADF));

    TestType write_only = co_await make<TestType>(ring, dir, -1, "wb");
    CHECK_THROWS_MATCHES(co_await write_only.read(), std::system_error, has_errno(EBADF));
    CHECK_THROWS_MATCHES(co_await write_only.readline(), std::system_error, has_errno(EBADF));
    CHECK_THROWS_MATCHES(co_await write_only.readline(0), std::system_error, has_errno(EBADF));

    TestType closed = co_await make<TestType>(ring, dir, -1);
    co_await closed.close();
    CHECK_THROWS_MATCHES(co_await closed.write("x"), std::system_error, has_errno(EBADF));
    CHECK_THROWS_MATCHES(co_await closed.read(), std::system_error, has_errno(EBADF));
    CHECK_THROWS_MATCHES(co_await closed.flush(), std::system_error, has_errno(EBADF));
    CHECK_THROWS_MATCHES(co_await closed.readline(0), std::system_error, has_errno(EBADF));
    CHECK_THROWS_MATCHES(co_await closed.writelines(std::vector<std::string>()),
                         std::system_error, has_errno(EBADF));
    CHECK_THROWS_MATCHES(closed.seek(0), std::system_error, has_errno(EBADF));
    CHECK_THROWS_MATCHES(closed.tell(), std::system_error, has_errno(EBADF));
    CHECK_THROWS_MATCHES(closed.fileno(), std::system_error, has_errno(EBADF));

    for (const char* bad : {"", "q", "rw", "r++", "wbt", "bb", "w+x"})
      CHECK_THROWS_AS(co_await make<TestType>(ring, dir, -1, bad), std::invalid_argument);

    TestType file = co_await make<TestType>(ring, dir, -1);
    CHECK_THROWS_MATCHES(file.seek(-1), std::system_error, has_errno(EINVAL));
    CHECK_THROWS_MATCHES(file.seek(0, 42), std::system_error, has_errno(EINVAL));
  };
  sync_wait(ring, run());
  CHECK(test::open_fds() == fds_before);
  CHECK(dir.entries() == 0);
}

TEST_CASE("seek to the end sees what another writer appended", "[file]") {
  test::scratch_dir dir;
  io_ring ring;
  auto run = [&]() -> task<void> {
    auto file = co_await named_temporary_file::create(ring, options().dir(dir.path()));
    co_await file.write("mine:");
    co_await file.flush();
    {
      std::ofstream other(file.name(), std::ios::binary | std::ios::app);
      other << "theirs:";
    }
    CHECK(file.seek(0, SEEK_END) == 12);
    co_await file.write("more");  // lands after the other writer's bytes
    CHECK(file.seek(0, SEEK_END) == 16);  // this handle's unwritten bytes count too
    co_await file.flush();
    CHECK(test::slurp(file.name()) == "mine:theirs:more");
    co_await file.close();
  };
  auto append = [&]() -> task<void> {
    auto file = co_await named_temporary_file::create(
        ring, options().dir(dir.path()).mode("a+b").auto_delete(false));
    co_await file.write("one,");
    co_await file.flush();
    {
      std::ofstream other(file.name(), std::ios::binary | std::ios::app);
      other << "two,";
    }
    co_await file.write("three");
    co_await file.close();
    CHECK(test::slurp(file.name()) == "one,two,three");
  };
  sync_wait(ring, run());
  sync_wait(ring, append());
}

TEST_CASE("an explicit buffer size bounds the bytes a reader of the name has not seen", "[file]") {
  test::scratch_dir dir;
  io_ring ring;
  constexpr long buffer = 4096;
  auto run = [&]() -> task<void> {
    auto file = co_await named_temporary_file::create(ring, options().dir(dir.path()).buffering(buffer));
    const std::string piece(1000, 'x');
    std::int64_t written = 0;
    for (int i = 0; i < 20; ++i) {
      co_await file.write(piece);
      written += static_cast<std::int64_t>(piece.size());
      const auto on_disk = static_cast<std::int64_t>(std::filesystem::file_size(file.name()));
      CAPTURE(written, on_disk);
      CHECK(written - on_disk <= buffer);
    }
    co_await file.close();
  };
  sync_wait(ring, run());
}

TEST_CASE("a buffer larger than one write keeps its tail at close", "[file][large]") {
  test::scratch_dir dir("/dev/shm");  // 2 GiB: memory, not the disk
  io_ring ring;
  const std::size_t size = detail::max_transfer + 4096;
  std::vector<std::byte> data(size);
  for (std::size_t i = size - 8192; i < size; ++i) data[i] = std::byte(i % 251 + 1);
  auto run = [&]() -> task<std::filesystem::path> {
    auto file = co_await named_temporary_file::create(
        ring, options().dir(dir.path()).buffering(static_cast<long>(size + 1)).auto_delete(false));
    const std::span<const std::byte> bytes(data);
    co_await file.write(bytes.first(1));  // buffered: a write as large as the buffer is not
    co_await file.write(bytes.subspan(1));
    co_await file.close();  // the whole buffer goes out here
    co_return file.name();
  };
  const auto name = sync_wait(ring, run());
  REQUIRE(std::filesystem::file_size(name) == size);
  std::vector<std::byte> tail(8192);
  const unique_fd fd(::open(name.c_str(), O_RDONLY));
  REQUIRE(::pread(fd.get(), tail.data(), tail.size(), static_cast<off_t>(size - tail.size())) == 8192);
  CHECK(std::equal(tail.begin(), tail.end(), data.end() - 8192));
}

TEST_CASE("link works from a thread with a descriptor table of its own", "[file]") {
  test::scratch_dir dir;
  std::exception_ptr failure;
  std::thread([&] {
    try {
      if (::unshare(CLONE_FILES) != 0) throw std::system_error(errno, std::generic_category());
      io_ring ring;
      sync_wait(ring, [&]() -> task<void> {
        auto file = co_await temporary_file::create(ring, options().dir(dir.path()));
        co_await file.write("private table");
        co_await file.link(dir / "published");
        co_await file.close();
      }());
    } catch (...) {
      failure = std::current_exception();
    }
  }).join();
  CHECK_NOTHROW(failure ? std::rethrow_exception(failure) : void());
  CHECK(test::slurp(dir / "published") == "private table");
}


TEST_CASE("link without /proc uses AT_EMPTY_PATH, or says that /proc is missing", "[file]") {
  // Without the capability, kernels before 6.10 refuse AT_EMPTY_PATH: the error must say why.
  test::scratch_dir dir;
  std::filesystem::permissions(dir.path(), std::filesystem::perms::all);  // for nobody too
  test::check_without_proc([&](std::string& report) {
    const auto publish = [&](const char* name) {
      io_ring ring;
      sync_wait(ring, [&]() -> task<void> {
        auto file = co_await temporary_file::create(ring, options().dir(dir.path()));
        co_await file.write(name);
        co_await file.link(dir / name);
      }());
    };
    try {
      publish("as-root");  // CAP_DAC_READ_SEARCH: linkat with AT_EMPTY_PATH
      if (test::slurp(dir / "as-root") != "as-root") return (report = "wrong contents"), 1;
    } catch (const std::exception& e) {
      return (report = e.what()), 2;
    }
    if (::setresgid(65534, 65534, 65534) != 0 || ::setresuid(65534, 65534, 65534) != 0)
      return (report = "cannot become nobody"), 77;
    try {
      publish("as-nobody");  // allowed since Linux 6.10 to whoever opened the file
      return test::slurp(dir / "as-nobody") == "as-nobody" ? 0 : ((report = "wrong contents"), 3);
    } catch (const std::system_error& e) {
      report = e.what();
      return e.code().value() == ENOENT && std::strstr(e.what(), "/proc is not mounted") ? 0 : 4;
    }
  });
}

TEST_CASE("a publish awaited after its path argument is gone still uses it", "[file]") {
  test::scratch_dir dir;
  io_ring ring;
  sync_wait(ring, [&]() -> task<void> {
    auto unnamed = co_await temporary_file::create(ring, options().dir(dir.path()));
    co_await unnamed.write("unnamed");
    auto link = unnamed.link(dir / "linked");  // the path temporary dies here
    co_await link;
    auto named = co_await named_temporary_file::create(ring, options().dir(dir.path()));
    co_await named.write("named");
    auto persist = named.persist(dir / "persisted");
    co_await persist;
    spooled_temporary_file spooled(ring, options().dir(dir.path()));
    co_await spooled.write("spooled");
    auto spooled_link = spooled.link(dir / "spooled");
    co_await spooled_link;
  }());
  CHECK(test::slurp(dir / "linked") == "unnamed");
  CHECK(test::slurp(dir / "persisted") == "named");
  CHECK(test::slurp(dir / "spooled") == "spooled");
}

TEST_CASE("a ring destroyed before its files writes back what they buffer and detaches them",
          "[file][lifetime]") {
  test::scratch_dir dir;
  const int fds_before = test::open_fds();
  const std::string large(default_buffer_size + 100, 'L');  // a write-behind is in flight
  std::optional<io_ring> ring(std::in_place);
  auto small = sync_wait(*ring, named_temporary_file::create(*ring, options().dir(dir.path())));
  auto big = sync_wait(*ring, named_temporary_file::create(*ring, options().dir(dir.path())));
  auto unnamed = sync_wait(*ring, temporary_file::create(*ring, options().dir(dir.path())));
  spooled_temporary_file spooled(*ring, options().dir(dir.path()));
  sync_wait(*ring, small.write("buffered"));
  sync_wait(*ring, big.write(large));
  sync_wait(*ring, unnamed.write("unnamed"));
  sync_wait(*ring, spooled.write("in memory"));
  ring.reset();
  CHECK(test::slurp(small.name()) == "buffered");
  CHECK(test::slurp(big.name()) == large);

  io_ring other;
  const auto refused = [](const std::system_error& e) {
    return e.code().value() == EBADF && std::strstr(e.what(), "io_ring was destroyed");
  };
  const auto is_refused = Catch::Predicate<std::system_error>(refused, "EBADF: ring destroyed");
  CHECK_THROWS_MATCHES(sync_wait(other, small.write("more")), std::system_error, is_refused);
  CHECK_THROWS_MATCHES(sync_wait(other, small.flush()), std::system_error, is_refused);
  CHECK_THROWS_MATCHES(sync_wait(other, unnamed.read(4)), std::system_error, is_refused);
  CHECK_THROWS_MATCHES(sync_wait(other, spooled.write("more")), std::system_error, is_refused);
  CHECK_THROWS_MATCHES(sync_wait(other, spooled.rollover()), std::system_error, is_refused);
  CHECK(test::slurp(small.name()) == "buffered");  // nothing lost, nothing half-written
  const std::filesystem::path small_name = small.name();
  CHECK_NOTHROW(sync_wait(other, small.close()));  // closes and deletes without the ring
  CHECK_FALSE(std::filesystem::exists(small_name));
  CHECK_NOTHROW(sync_wait(other, spooled.close()));
  const std::filesystem::path big_name = big.name();
  {
    const auto moved = std::move(big);  // a detached file moves like any other
    CHECK(moved.name() == big_name);
  }  // and is deleted at destruction
  { const auto gone = std::move(unnamed); }
  CHECK(dir.entries() == 0);
  CHECK(test::open_fds() == fds_before + test::fds_per_ring);  // `other`'s own
}

TEST_CASE("a missing directory throws ENOENT with the path and leaks nothing", "[file][errors]") {
  test::scratch_dir dir;
  io_ring ring;
  const auto missing = dir / "missing";
  const int fds_before = test::open_fds();
  CHECK_THROWS_MATCHES(sync_wait(ring, temporary_file::create(ring, options().dir(missing))),
                       std::system_error, has_errno(ENOENT));
  CHECK_THROWS_MATCHES(sync_wait(ring, named_temporary_file::create(ring, options().dir(missing))),
                       std::system_error, has_errno(ENOENT));
  try {
    sync_wait(ring, temporary_file::create(ring, options().dir(missing)));
  } catch (const std::system_error& e) {
    CHECK_THAT(e.what(), Catch::Contains(missing.string()));
  }
  CHECK(test::open_fds() == fds_before);
  CHECK(dir.entries() == 0);
}

TEST_CASE("append mode writes at the end whatever the position", "[file]") {
  test::scratch_dir dir;
  io_ring ring;
  auto run = [&]() -> task<std::string> {
    auto file = co_await temporary_file::create(ring, options().dir(dir.path()).mode("a+b"));
    co_await file.write("one ");
    file.seek(0);
    co_await file.write("two");
    CHECK(file.tell() == 7);
    file.seek(0);
    co_return co_await file.read();
  };
  CHECK(sync_wait(ring, run()) == "one two");
}

TEST_CASE("readline and readlines split on newlines and keep them", "[file]") {
  test::scratch_dir dir;
  io_ring ring;
  auto run = [&]() -> task<void> {
    auto file = co_await temporary_file::create(ring, options().dir(dir.path()).buffering(0));
    const std::vector<std::string> lines{"alpha\n", "beta\n", "", "gamma"};
    co_await file.writelines(lines);
    file.seek(0);
    const auto got2 = co_await file.readline();
    CHECK(got2 == "alpha\n");
    const auto got3 = co_await file.readline(2);
    CHECK(got3 == "be");
    const auto got4 = co_await file.readlines();
    CHECK(got4 == std::vector<std::string>{"ta\n", "gamma"});
    const auto got5 = co_await file.readline();
    CHECK(got5 == "");
  };
  sync_wait(ring, run());
}

TEST_CASE("seeking past the largest offset throws EOVERFLOW and keeps the position", "[file][errors]") {
  test::scratch_dir dir;
  io_ring ring;
  auto run = [&]() -> task<void> {
    auto file = co_await temporary_file::create(ring, options().dir(dir.path()));
    spooled_temporary_file spooled(ring, options().dir(dir.path()));
    file.seek(10);
    spooled.seek(10);
    CHECK_THROWS_MATCHES(file.seek(INT64_MAX, SEEK_CUR), std::system_error, has_errno(EOVERFLOW));
    CHECK_THROWS_MATCHES(spooled.seek(INT64_MAX, SEEK_CUR), std::system_error, has_errno(EOVERFLOW));
    CHECK(file.tell() == 10);
    CHECK(spooled.tell() == 10);
  };
  sync_wait(ring, run());
}

namespace {

// Writes `data` in 4 KiB calls: once the buffer fills, its background write is started and
// `write` returns without awaiting it.
task<named_temporary_file> kept_file_with_write_behind(io_ring& ring, const test::scratch_dir& dir,
                                                       const std::string& data) {
  auto file = co_await named_temporary_file::create(ring, options().dir(dir.path()).auto_delete(false));
  for (std::size_t at = 0; at < data.size(); at += 4096)
    co_await file.write(std::string_view(data).substr(at, 4096));
  co_return file;
}

task<void> submit_queued(io_ring& ring) { co_await ops::nop(ring); }

std::string pattern(std::size_t size) {
  std::string s(size, '\0');
  for (std::size_t i = 0; i < size; ++i) s[i] = static_cast<char>('a' + i % 23);
  return s;
}

}  // namespace

TEST_CASE("a file destroyed with its background write in flight keeps its data, in any order",
          "[file][lifetime]") {
  test::scratch_dir dir;
  const std::string data = pattern(3 * default_buffer_size + 100 * 4096);  // two behind
  const int fds_before = test::open_fds();
  std::filesystem::path name;
  SECTION("the file before its ring, its writes just submitted") {
    io_ring ring;
    auto file = sync_wait(ring, kept_file_with_write_behind(ring, dir, data));
    name = file.name();
  }
  SECTION("the file before its ring, the write submitted") {
    io_ring ring;
    auto file = sync_wait(ring, kept_file_with_write_behind(ring, dir, data));
    sync_wait(ring, submit_queued(ring));
    name = file.name();
  }
  SECTION("the ring before the file") {
    auto ring = std::make_unique<io_ring>();
    auto file = sync_wait(*ring, kept_file_with_write_behind(*ring, dir, data));
    sync_wait(*ring, submit_queued(*ring));
    name = file.name();
    ring.reset();
  }
  SECTION("the task holding the file, suspended in another op, then the ring") {
    int pipe_fds[2];
    REQUIRE(::pipe2(pipe_fds, O_CLOEXEC) == 0);
    const unique_fd read_end(pipe_fds[0]), write_end(pipe_fds[1]);  // outlive the ring
    io_ring ring;
    auto write_then_wait = [&]() -> task<void> {
      auto file = co_await kept_file_with_write_behind(ring, dir, data);
      name = file.name();
      std::byte never[1];
      co_await ops::read(ring, pipe_fds[0], never, 0);  // no data ever comes
    };
    auto writer = write_then_wait();
    detail::task_access::start(writer);
    while (name.empty()) sync_wait(ring, submit_queued(ring));
  }  // the task dies with its read and the file's background write in flight
  CHECK(test::slurp(name) == data);
  CHECK(test::open_fds() == fds_before);
}

TEST_CASE("a full buffer's background write reaches the kernel before write returns",
          "[file]") {
  // Queued until the writer next waited, it could not overlap the filling of the next
  // buffer: the kernel saw it only once that buffer was full too.
  test::scratch_dir dir;
  io_ring ring;
  const std::string data = pattern(4 * default_buffer_size);
  auto run = [&]() -> task<void> {
    auto file = co_await named_temporary_file::create(ring, options().dir(dir.path()));
    const auto submitted = ring.stats().submitted;
    for (std::size_t at = 0; at < default_buffer_size; at += 4096)
      co_await file.write(std::string_view(data).substr(at, 4096));  // never waits
    CHECK(ring.stats().submitted == submitted + 1);
    for (std::size_t at = default_buffer_size; at < data.size(); at += 4096)
      co_await file.write(std::string_view(data).substr(at, 4096));
    co_await file.flush();
    CHECK(test::slurp(file.name()) == data);
    co_await file.close();
  };
  sync_wait(ring, run());
}

TEMPLATE_TEST_CASE("a write runs when awaited, at the position and state of that moment, once",
                   "[file][lazy]", temporary_file, named_temporary_file) {
  test::scratch_dir dir;
  io_ring ring;
  for (const long buffering : buffer_sizes) {
    CAPTURE(buffering);
    auto run = [&]() -> task<void> {
      TestType file = co_await make<TestType>(ring, dir, buffering);
      co_await file.write("a");  // pending bytes: the next small write can stay in memory
      {
        task<std::size_t> dropped = file.write("never");
        CHECK(dropped);
      }
      CHECK(file.tell() == 1);
      task<std::size_t> later = file.write("c");
      task<std::size_t> moved = std::move(later);
      CHECK_FALSE(later);
      co_await file.write("b");
      const std::size_t written = co_await moved;
      CHECK(written == 1);
      std::vector<task<std::size_t>> together;
      together.push_back(file.write("de"));
      const std::vector<std::size_t> counts = co_await when_all(std::move(together));
      CHECK(counts == std::vector<std::size_t>{2});
      task<std::size_t> twice = file.write("f");
      const std::size_t first = co_await twice;
      const std::size_t again = co_await twice;  // finished: runs nothing again
      CHECK(first == 1);
      CHECK(again == 1);
      file.seek(0);
      task<std::string> read = file.read();
      const std::string contents = co_await read;
      CHECK(contents == "abcdef");
      const std::string contents_again = co_await read;  // a copy: the task keeps its own
      CHECK(contents_again == "abcdef");
      CHECK(file.tell() == 6);
      task<std::size_t> after_close = file.write("x");
      co_await file.close();
      const int error = co_await test::errno_when_awaited(std::move(after_close));
      CHECK(error == EBADF);
    };
    sync_wait(ring, run());
  }
}

TEST_CASE("a write task handed to sync_wait runs there", "[file][lazy]") {
  test::scratch_dir dir;
  io_ring ring;
  temporary_file file = sync_wait(ring, make<temporary_file>(ring, dir, -1));
  CHECK(sync_wait(ring, file.write("one")) == 3);
  CHECK(sync_wait(ring, file.write("two")) == 3);  // pending bytes before it: in memory
  sync_wait(ring, file.flush());
  std::string on_disk(6, '\0');
  REQUIRE(::pread(file.fileno(), on_disk.data(), 6, 0) == 6);
  CHECK(on_disk == "onetwo");
}

TEST_CASE("files holding a few KiB take small buffers, not a full one each", "[file][memory]") {
  test::scratch_dir dir;
  io_ring ring;
  constexpr std::size_t file_count = 64;
  const std::string payload(4096, 'p');
  auto heap_in_use = [] {
    const struct mallinfo2 info = ::mallinfo2();
    return info.uordblks + info.hblkhd;  // allocated from the heap, and mapped on their own
  };
  auto run = [&]() -> task<void> {
    std::vector<temporary_file> files;
    files.reserve(file_count);
    const std::size_t before = heap_in_use();
    for (std::size_t i = 0; i < file_count; ++i) {
      files.push_back(co_await temporary_file::create(ring, options().dir(dir.path())));
      co_await files.back().write(payload);
    }
    const std::size_t grown = heap_in_use() - before;
    CHECK(grown < file_count * default_buffer_size / 4);
    for (temporary_file& file : files) {
      file.seek(0);
      const std::string contents = co_await file.read();
      CHECK(contents == payload);
      co_await file.close();
    }
  };
  sync_wait(ring, run());
}
