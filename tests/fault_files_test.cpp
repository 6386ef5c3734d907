// Faults around files: descriptor exhaustion, tiny rings under load, killed writers,
// exceptions inside when_all, descriptors across exec.

#include <fcntl.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <tempfile/tempfile.hpp>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "support.hpp"
#include "test_hooks.hpp"

using namespace tempfile;
using test::has_errno;

namespace {

/// Uses up every free descriptor below a lowered RLIMIT_NOFILE, so the next open fails
/// with EMFILE; gives everything back on destruction.
class descriptor_exhaustion {
 public:
  descriptor_exhaustion() {
    REQUIRE(::getrlimit(RLIMIT_NOFILE, &saved_) == 0);
    int highest = 0;
    for (const auto& entry : std::filesystem::directory_iterator("/proc/self/fd"))
      highest = std::max(highest, std::stoi(entry.path().filename().string()));
    rlimit low = saved_;
    low.rlim_cur = static_cast<rlim_t>(highest + 1);
    REQUIRE(::setrlimit(RLIMIT_NOFILE, &low) == 0);
    for (int fd; (fd = ::open("/dev/null", O_RDONLY | O_CLOEXEC)) >= 0;) fillers_.push_back(fd);
  }
  ~descriptor_exhaustion() {
    for (const int fd : fillers_) ::close(fd);
    ::setrlimit(RLIMIT_NOFILE, &saved_);
  }
  descriptor_exhaustion(const descriptor_exhaustion&) = delete;
  descriptor_exhaustion& operator=(const descriptor_exhaustion&) = delete;

 private:
  rlimit saved_{};
  std::vector<int> fillers_;
};

/// The descriptors a freshly exec'd child of this process holds. The child's shell says so
/// once it runs, which is after exec has closed the close-on-exec descriptors.
std::vector<int> descriptors_after_exec() {
  int started[2];
  REQUIRE(::pipe(started) == 0);
  const pid_t pid = ::fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    ::dup2(started[1], STDOUT_FILENO);
    ::execl("/bin/sh", "sh", "-c", "echo; exec sleep 30", static_cast<char*>(nullptr));
    ::_exit(127);
  }
  ::close(started[1]);
  char c;
  REQUIRE(::read(started[0], &c, 1) == 1);
  ::close(started[0]);
  // Listed once `sleep` sleeps: while its loader runs it holds a descriptor of its own
  // (ld.so.cache, libc), which may take the number of one of ours.
  const std::string proc = "/proc/" + std::to_string(pid);
  const auto asleep_in_sleep = [&] {
    std::error_code error;
    const auto exe = std::filesystem::read_symlink(proc + "/exe", error);
    std::ifstream stat(proc + "/stat");
    std::string pid_field, name, state;
    stat >> pid_field >> name >> state;
    return !error && exe.filename() == "sleep" && state == "S";
  };
  for (int tries = 0; tries < 500 && !asleep_in_sleep(); ++tries)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  std::vector<int> fds;
  for (const auto& entry : std::filesystem::directory_iterator(proc + "/fd"))
    fds.push_back(std::stoi(entry.path().filename().string()));
  ::kill(pid, SIGKILL);
  ::waitpid(pid, nullptr, 0);
  return fds;
}

}  // namespace

TEST_CASE("EMFILE from every create path is thrown and leaves nothing behind", "[fault][emfile]") {
  test::scratch_dir dir;
  io_ring ring;
  const int fds_before = test::open_fds();
  auto errno_of = [&](auto make) {
    try {
      sync_wait(ring, make());
      return 0;
    } catch (const std::system_error& e) {
      return e.code().value();
    }
  };
  // UBSan's vptr check needs a pipe the first time it meets a type, so the checks below run
  // after descriptors are free again, and system_error is met once before they run out.
  CHECK(errno_of([&] { return temporary_file::create(ring, options().dir(dir.path() / "missing")); }) ==
        ENOENT);
  spooled_temporary_file spooled(ring, options().max_size(4).dir(dir.path()));
  int temporary_error, named_error, mkstemp_error, rollover_error;
  {
    descriptor_exhaustion exhausted;
    temporary_error = errno_of([&] { return temporary_file::create(ring, options().dir(dir.path())); });
    named_error = errno_of([&] { return named_temporary_file::create(ring, options().dir(dir.path())); });
    mkstemp_error = errno_of([&] { return mkstemp(ring, options().dir(dir.path())); });
    rollover_error = errno_of([&] { return spooled.write("more than four"); });
  }
  CHECK(temporary_error == EMFILE);
  CHECK(named_error == EMFILE);
  CHECK(mkstemp_error == EMFILE);
  CHECK(rollover_error == EMFILE);
  CHECK_FALSE(spooled.rolled_over());
  auto read_back = [&]() -> task<std::string> {
    spooled.seek(0);
    co_return co_await spooled.read();
  };
  CHECK(sync_wait(ring, read_back()) == "more than four");
  CHECK(test::open_fds() == fds_before);
  CHECK(dir.entries() == 0);
}

TEST_CASE("10,000 concurrent file operations through a 4-entry ring", "[fault][backpressure]") {
  test::scratch_dir dir;
  io_ring ring(ring_options{.entries = 4});
  constexpr int files = 100, writes_per_file = 100;
  auto fill = [&](int id) -> task<std::string> {
    temporary_file file = co_await temporary_file::create(ring, options().dir(dir.path()).buffering(0));
    const std::string line = "file " + std::to_string(id) + "\n";
    for (int i = 0; i < writes_per_file; ++i) co_await file.write(line);
    file.seek(0);
    std::string back = co_await file.read();
    co_await file.close();
    co_return back;
  };
  std::vector<task<std::string>> tasks;
  for (int id = 0; id < files; ++id) tasks.push_back(fill(id));
  const auto contents = sync_wait(ring, when_all(std::move(tasks)));
  for (int id = 0; id < files; ++id) {
    std::string expected;
    for (int i = 0; i < writes_per_file; ++i) expected += "file " + std::to_string(id) + "\n";
    REQUIRE(contents[static_cast<std::size_t>(id)] == expected);
  }
  CHECK(ring.stats().completed >= files * (writes_per_file + 3));
  CHECK(ring.stats().backlogged > 0);
  CHECK(dir.entries() == 0);
}

TEST_CASE("failing when_all children leak no descriptors and leave no files", "[fault]") {
  test::scratch_dir dir;
  io_ring ring;
  const int fds_before = test::open_fds();
  auto maybe_fail = [&](int id) -> task<int> {
    named_temporary_file file = co_await named_temporary_file::create(ring, options().dir(dir.path()));
    co_await file.write("partial");
    if (id % 3 == 0) throw std::runtime_error("child " + std::to_string(id) + " failed");
    co_await file.close();
    co_return id;
  };
  std::vector<task<int>> tasks;
  for (int id = 0; id < 30; ++id) tasks.push_back(maybe_fail(id));
  CHECK_THROWS_WITH(sync_wait(ring, when_all(std::move(tasks))), "child 0 failed");
  CHECK(test::open_fds() == fds_before);
  CHECK(dir.entries() == 0);
}

TEST_CASE("a writer killed by SIGKILL leaves no unnamed file, and its named file stays",
          "[fault][sigkill]") {
  test::scratch_dir dir;
  int ready[2];
  REQUIRE(::pipe2(ready, O_CLOEXEC) == 0);
  const pid_t pid = ::fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    io_ring ring;
    auto write_forever = [&]() -> task<void> {
      auto unnamed = co_await temporary_file::create(ring, options().dir(dir.path()));
      auto named = co_await named_temporary_file::create(ring, options().dir(dir.path()));
      const std::string chunk(64 * 1024, 'k');
      for (bool told = false;;) {
        co_await unnamed.write(chunk);
        co_await named.write(chunk);
        if (!told) told = ::write(ready[1], "r", 1) == 1;
      }
    };
    sync_wait(ring, write_forever());
    ::_exit(0);
  }
  char c;
  REQUIRE(::read(ready[0], &c, 1) == 1);
  ::kill(pid, SIGKILL);
  int status = 0;
  REQUIRE(::waitpid(pid, &status, 0) == pid);
  ::close(ready[0]);
  ::close(ready[1]);
  CHECK(WIFSIGNALED(status));
  // O_TMPFILE data never had a name; the named file is left, as Python's would be.
  CHECK(dir.entries() == 1);
}

TEST_CASE("no descriptor of the library survives exec", "[fault][cloexec]") {
  test::scratch_dir dir;
  io_ring ring;
  auto run = [&]() -> task<void> {
    auto unnamed = co_await temporary_file::create(ring, options().dir(dir.path()));
    auto named = co_await named_temporary_file::create(ring, options().dir(dir.path()));
    created_file raw = co_await mkstemp(ring, options().dir(dir.path()));
    spooled_temporary_file spooled(ring, options().dir(dir.path()));
    const int ours[] = {ring.native_handle().ring_fd, unnamed.fileno(), named.fileno(),
                        raw.fd.get(), co_await spooled.fileno()};
    const std::vector<int> inherited = descriptors_after_exec();
    CHECK(inherited.size() >= 3);  // stdin, stdout, stderr
    for (const int fd : ours) {
      CAPTURE(fd);
      CHECK(std::find(inherited.begin(), inherited.end(), fd) == inherited.end());
    }
    std::filesystem::remove(raw.path);
  };
  sync_wait(ring, run());
}

TEST_CASE("ENOSPC during writes and close is thrown, the data stays buffered for a retry",
          "[fault][enospc]") {
  TEST_TINY_TMPFS_OR_SKIP(tiny, "256k");
  io_ring ring;
  const int fds_before = test::open_fds();
  std::filesystem::path name;
  std::int64_t accepted = 0;
  auto fill = [&]() -> task<void> {
    auto file = co_await named_temporary_file::create(
        ring, options().dir(tiny.path()).auto_delete(false));
    name = file.name();
    const std::string chunk(64 * 1024, 'f');
    int error = 0;
    try {
      for (int i = 0; i < 64; ++i) co_await file.write(chunk);  // 4 MiB into 256 KiB
    } catch (const std::system_error& e) {
      error = e.code().value();
    }
    CHECK(error == ENOSPC);
    accepted = file.tell();  // what write() took before it threw
    CHECK_THROWS_MATCHES(co_await file.close(), std::system_error, has_errno(ENOSPC));
    CHECK_FALSE(file.closed());  // a failed flush keeps the file open with its data
    tiny.resize("8m");           // space comes back: the same close now succeeds
    co_await file.close();
    CHECK(file.closed());
  };
  sync_wait(ring, fill());
  CHECK(accepted > 256 * 1024);
  const std::string on_disk = test::slurp(name);
  CHECK(on_disk.size() == static_cast<std::size_t>(accepted));
  CHECK(on_disk.find_first_not_of('f') == std::string::npos);
  std::filesystem::remove(name);
  CHECK(test::open_fds() == fds_before);
  CHECK(tiny.empty());
}

TEST_CASE("ENOSPC while publishing with link leaves nothing behind", "[fault][enospc]") {
  TEST_TINY_TMPFS_OR_SKIP(tiny, "256k");
  io_ring ring;
  const int fds_before = test::open_fds();
  const std::string big(1 << 20, 'b');
  auto publish = [&]() -> task<void> {
    spooled_temporary_file upload(ring, options().max_size(4 << 20));
    co_await upload.write(big);
    CHECK_THROWS_MATCHES(co_await upload.link(tiny.path() / "published"), std::system_error,
                         has_errno(ENOSPC));
    upload.seek(0);
    const std::string kept = co_await upload.read();
    CHECK(kept == big);  // still all in memory
  };
  sync_wait(ring, publish());
  CHECK_FALSE(std::filesystem::exists(tiny.path() / "published"));
  CHECK(test::open_fds() == fds_before);
  CHECK(tiny.empty());
}

TEST_CASE("a link after a background write failed throws its error, names nothing, and "
          "publishes every byte once retried",
          "[fault][enospc][publish]") {
  // The failed write's bytes wait beside the buffer, not in it: a publish that chained only
  // the buffer would name a file with a hole where they belong.
  TEST_TINY_TMPFS_OR_SKIP(tiny, "1m");  // room for the file once the filler is gone
  io_ring ring;
  const int fds_before = test::open_fds();
  const auto filler = tiny.path() / "filler";
  {
    const unique_fd fill(::open(filler.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0600));
    const std::string block(4096, 'x');
    while (::write(fill.get(), block.data(), block.size()) > 0) {
    }
  }
  std::string contents;  // every 4 KiB its own letter: a block out of place shows
  for (std::size_t at = 0; at < default_buffer_size + 4096; at += 4096)
    contents += std::string(4096, static_cast<char>('a' + at / 4096 % 26));
  auto write_then_link = [&]() -> task<void> {
    auto file = co_await temporary_file::create(ring, options().dir(tiny.path()));
    // The first full buffer goes behind the writer and fails there (no space); the last
    // 4 KiB stay in the buffer. write() itself does not wait for the failed write.
    const std::uint64_t completed = ring.stats().completed;
    for (std::size_t at = 0; at < contents.size(); at += 4096)
      co_await file.write(std::string_view(contents).substr(at, 4096));
    // Until the background write's completion is in: every other one is a NOP's.
    for (std::uint64_t nops = 0; ring.stats().completed - completed == nops; ++nops)
      co_await ops::nop(ring);
    std::filesystem::remove(filler);
    CHECK_THROWS_MATCHES(co_await file.link(tiny.path() / "published"), std::system_error,
                         has_errno(ENOSPC));
    CHECK_FALSE(std::filesystem::exists(tiny.path() / "published"));
    co_await file.link(tiny.path() / "published");  // the kept bytes are written first
    co_await file.close();
  };
  sync_wait(ring, write_then_link());
  CHECK(test::slurp(tiny.path() / "published") == contents);
  std::filesystem::remove(tiny.path() / "published");
  CHECK(test::open_fds() == fds_before);
  CHECK(tiny.empty());
}

TEST_CASE("mkstemp and mkdtemp never follow a symlink planted at the chosen name",
          "[fault][security]") {
  test::scratch_dir dir;
  test::scratch_dir outside;
  const auto victim = outside / "victim";
  std::ofstream(victim) << "untouched";
  const auto victim_dir = outside / "victim_dir";
  std::filesystem::create_directory(victim_dir);
  // The first name each function picks is taken by a symlink pointing outside.
  std::filesystem::create_symlink(victim, dir / "tmpplantedx");
  std::filesystem::create_symlink(victim_dir, dir / "dirplantedx");
  int calls = 0;
  auto previous = detail::set_name_source([&] {
    return calls++ == 0 ? std::string("plantedx") : "freshnm" + std::string(1, char('a' + calls));
  });
  struct restore {
    detail::name_source previous;
    ~restore() { detail::set_name_source(std::move(previous)); }
  } restore_source{std::move(previous)};
  io_ring ring;
  created_file file = sync_wait(ring, mkstemp(ring, options().dir(dir.path()).prefix("tmp")));
  CHECK(file.path.filename() != "tmpplantedx");
  CHECK(std::filesystem::is_regular_file(std::filesystem::symlink_status(file.path)));
  calls = 0;
  const auto made = sync_wait(ring, mkdtemp(ring, options().dir(dir.path()).prefix("dir")));
  CHECK(made.filename() != "dirplantedx");
  CHECK(std::filesystem::is_directory(std::filesystem::symlink_status(made)));
  CHECK(test::slurp(victim) == "untouched");
  CHECK(std::filesystem::is_empty(victim_dir));
}

TEST_CASE("a close whose last write falls short finishes it first, and fails with the file open",
          "[fault][close]") {
  // A cap on file sizes cuts the closing write short (the kernel writes up to it), which
  // cancels the close linked to it; the rest then fails with EFBIG.
  test::scratch_dir dir;
  io_ring ring;
  const int fds_before = test::open_fds();
  std::filesystem::path name;
  auto run = [&]() -> task<void> {
    auto file = co_await named_temporary_file::create(
        ring, options().dir(dir.path()).auto_delete(false));
    name = file.name();
    co_await file.write(std::string(10000, 'a'));  // buffered: written by close
    {
      test::file_size_cap cap(6000);
      CHECK_THROWS_MATCHES(co_await file.close(), std::system_error, has_errno(EFBIG));
      CHECK_FALSE(file.closed());  // the close never ran: the data is still buffered
    }
    co_await file.close();
    CHECK(file.closed());
  };
  sync_wait(ring, run());
  CHECK(test::slurp(name) == std::string(10000, 'a'));
  CHECK(test::open_fds() == fds_before);
}

namespace {

/// The kernel fails every chained op of one opcode while it lives (see
/// detail::simulate_chain_failure).
class chain_failure {
 public:
  chain_failure(unsigned opcode, int error) { detail::simulate_chain_failure(opcode, error); }
  ~chain_failure() { detail::simulate_chain_failure(0, 0); }
  chain_failure(const chain_failure&) = delete;
  chain_failure& operator=(const chain_failure&) = delete;
};

}  // namespace

TEST_CASE("closing a named file is one chain: a failed write keeps it open, a failed delete "
          "is reported, and no descriptor leaks",
          "[fault][linked]") {
  test::scratch_dir dir;
  io_ring ring;
  const int fds_before = test::open_fds();
  auto error_of = [](task<void> awaitable) -> task<std::string> {
    std::string what;
    try {
      co_await awaitable;
    } catch (const std::system_error& e) {
      what = std::to_string(e.code().value()) + " " + e.what();
    }
    co_return what;
  };
  auto body = [&]() -> task<void> {
    auto file = co_await named_temporary_file::create(ring, options().dir(dir.path()));
    const std::string name = file.name().string();
    co_await file.write(std::string_view("kept"));
    {
      chain_failure failing(IORING_OP_WRITE, EIO);
      const std::string what = co_await error_of(file.close());
      CHECK(what.rfind(std::to_string(EIO) + " write " + name, 0) == 0);
    }
    CHECK_FALSE(file.closed());  // the close and the delete never ran
    CHECK(test::slurp(name).empty());
    {
      chain_failure failing(IORING_OP_UNLINKAT, EIO);
      const std::string what = co_await error_of(file.close());
      CHECK(what.rfind(std::to_string(EIO) + " delete " + name, 0) == 0);
    }
    CHECK(file.closed());  // closed, with its data; the name it could not remove stays
    CHECK(test::slurp(name) == "kept");
    std::filesystem::remove(name);
  };
  sync_wait(ring, body());
  CHECK(test::open_fds() == fds_before);
  CHECK(dir.entries() == 0);
}
