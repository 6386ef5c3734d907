// io_ring, task, sync_wait, when_all, spawn: behaviour, batching, backpressure, lifetime.

#include <fcntl.h>
#include <liburing.h>
#include <unistd.h>

#include <tempfile/tempfile.hpp>

#include <cstdint>
#include <memory>
#include <stdexcept>
#include <string>
#include <system_error>
#include <vector>

#include "support.hpp"
#include "test_hooks.hpp"

using namespace tempfile;

namespace {

task<int> answer() { co_return 42; }
task<int> add_one(task<int> t) { co_return co_await t + 1; }
task<void> fail(std::string message) { throw std::runtime_error(message); co_return; }

task<int> yield_then(io_ring& ring, int yields, int value) {
  for (int i = 0; i < yields; ++i) co_await ring.yield();
  co_return value;
}

task<int> nop_then(io_ring& ring, int value) {
  co_await ops::nop(ring);
  co_return value;
}

task<int> count_sync(int depth) {
  int total = 0;
  for (int i = 0; i < depth; ++i) total += co_await answer();
  co_return total;
}

// Reads a pipe that never gets data: the op stays in flight until cancelled.
task<std::size_t> read_pipe(io_ring& ring, int fd, std::vector<std::byte>& buffer) {
  co_return co_await ops::read(ring, fd, buffer, 0);
}

}  // namespace

TEST_CASE("sync_wait returns a task value or rethrows its exception", "[runtime]") {
  io_ring ring;
  CHECK(sync_wait(ring, add_one(answer())) == 43);
  CHECK_THROWS_WITH(sync_wait(ring, fail("boom")), "boom");
}

TEST_CASE("a million synchronously finishing awaits do not grow the stack", "[runtime]") {
  io_ring ring;
  CHECK(sync_wait(ring, count_sync(1'000'000)) == 42'000'000);
}

TEST_CASE("when_all returns results in input order whatever the finishing order", "[runtime]") {
  io_ring ring;
  std::vector<task<int>> tasks;
  for (int i = 0; i < 8; ++i) tasks.push_back(yield_then(ring, 8 - i, i));
  auto results = sync_wait(ring, when_all(std::move(tasks)));
  CHECK(results == std::vector<int>{0, 1, 2, 3, 4, 5, 6, 7});
  CHECK(sync_wait(ring, when_all(std::vector<task<int>>{})).empty());
}

TEST_CASE("when_all waits for every task, then rethrows the first exception", "[runtime]") {
  io_ring ring;
  int finished = 0;
  auto tracked = [&](int yields, bool throws) -> task<void> {
    for (int i = 0; i < yields; ++i) co_await ring.yield();
    ++finished;
    if (throws) throw std::runtime_error("failed after " + std::to_string(yields));
  };
  std::vector<task<void>> tasks;
  tasks.push_back(tracked(5, false));
  tasks.push_back(tracked(2, true));  // throws first
  tasks.push_back(tracked(3, true));
  tasks.push_back(tracked(9, false));
  CHECK_THROWS_WITH(sync_wait(ring, when_all(std::move(tasks))), "failed after 2");
  CHECK(finished == 4);
}

TEST_CASE("spawn runs detached tasks, run rethrows the first failure after all finish",
          "[runtime]") {
  io_ring ring;
  int done = 0;
  auto worker = [&](int value) -> task<void> {
    co_await ops::nop(ring);
    done += value;
  };
  ring.spawn(worker(1));
  ring.spawn(worker(10));
  ring.run();
  CHECK(done == 11);

  ring.spawn(fail("first"));
  ring.spawn(worker(100));
  CHECK_THROWS_WITH(ring.run(), "first");
  CHECK(done == 111);
  ring.run();  // the error was delivered once
}

TEST_CASE("ops issued in one turn reach the kernel in one io_uring_enter", "[runtime][batching]") {
  io_ring ring;
  std::vector<task<int>> tasks;
  for (int i = 0; i < 32; ++i) tasks.push_back(nop_then(ring, i));
  const ring_stats before = ring.stats();
  auto results = sync_wait(ring, when_all(std::move(tasks)));
  const ring_stats after = ring.stats();
  CHECK(results.size() == 32);
  CHECK(after.submitted - before.submitted == 32);
  CHECK(after.enters - before.enters == 1);
}

TEST_CASE("10,000 concurrent ops through an 8-entry SQ", "[runtime][backpressure]") {
  io_ring ring(ring_options{.entries = 8});
  REQUIRE(ring.sq_entries() == 8);
  std::vector<task<int>> tasks;
  for (int i = 0; i < 10'000; ++i) tasks.push_back(nop_then(ring, i));
  auto results = sync_wait(ring, when_all(std::move(tasks)));
  REQUIRE(results.size() == 10'000);
  for (int i = 0; i < 10'000; ++i) REQUIRE(results[static_cast<std::size_t>(i)] == i);
  CHECK(ring.stats().backlogged > 0);
  CHECK(ring.stats().completed == 10'000);
}

TEST_CASE("10,000 concurrent writes through a tiny CQ land intact", "[runtime][backpressure]") {
  test::scratch_dir dir;
  io_ring ring(ring_options{.entries = 4, .cq_entries = 4});
  REQUIRE(ring.cq_entries() == 8);  // the smallest a ring takes
  const int fd = ::open(dir.path().c_str(), O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
  REQUIRE(fd >= 0);
  auto put = [&](std::size_t i) -> task<std::size_t> {
    const std::byte value{static_cast<unsigned char>(i % 251)};
    co_return co_await ops::write(ring, fd, std::span(&value, 1), i);
  };
  std::vector<task<std::size_t>> tasks;
  for (std::size_t i = 0; i < 10'000; ++i) tasks.push_back(put(i));
  auto written = sync_wait(ring, when_all(std::move(tasks)));
  for (auto n : written) REQUIRE(n == 1);
  std::vector<unsigned char> back(10'000);
  REQUIRE(::pread(fd, back.data(), back.size(), 0) == 10'000);
  for (std::size_t i = 0; i < back.size(); ++i) REQUIRE(back[i] == i % 251);
  ::close(fd);
}

TEST_CASE("destroying a task with a read in flight cancels it before the buffer goes",
          "[runtime][lifetime]") {
  io_ring ring;
  test::pipe_pair pipe;
  auto buffer = std::make_unique<std::vector<std::byte>>(64);
  {
    auto reader = read_pipe(ring, pipe.fds[0], *buffer);
    detail::task_access::start(reader);  // suspends in the read
    sync_wait(ring, yield_then(ring, 3, 0));        // the read reaches the kernel
    CHECK(ring.stats().submitted >= 1);
  }  // frame destroyed: the awaiter cancels and waits for the completion
  buffer.reset();
  // The cancelled read took nothing: the bytes are still in the pipe.
  REQUIRE(::write(pipe.fds[1], "late", 4) == 4);
  char back[4];
  REQUIRE(::read(pipe.fds[0], back, 4) == 4);
  CHECK(std::string(back, 4) == "late");
}

TEST_CASE("destroying the ring with spawned tasks mid-read cancels everything",
          "[runtime][lifetime]") {
  test::pipe_pair pipe;
  std::vector<std::vector<std::byte>> buffers(16, std::vector<std::byte>(32));
  {
    io_ring ring;
    auto reader = [&](std::vector<std::byte>& b) -> task<void> {
      co_await read_pipe(ring, pipe.fds[0], b);
    };
    for (auto& b : buffers) ring.spawn(reader(b));
    sync_wait(ring, yield_then(ring, 2, 0));
    CHECK(ring.stats().submitted >= 16);
  }
  buffers.clear();
  REQUIRE(::write(pipe.fds[1], "x", 1) == 1);
  char c;
  CHECK(::read(pipe.fds[0], &c, 1) == 1);
}

TEST_CASE("a task outliving its ring is destroyed safely afterwards", "[runtime][lifetime]") {
  test::pipe_pair pipe;
  std::vector<std::byte> buffer(16);
  task<std::size_t> reader;
  {
    io_ring ring;
    reader = read_pipe(ring, pipe.fds[0], buffer);
    detail::task_access::start(reader);
    sync_wait(ring, yield_then(ring, 2, 0));
  }  // the ring cancels and drains the read and detaches its awaiter
  reader = {};  // destroying the frame now touches no ring
  SUCCEED();
}

TEST_CASE("an op waiting in the backlog is dropped cleanly when its task dies",
          "[runtime][lifetime]") {
  io_ring ring(ring_options{.entries = 1, .cq_entries = 2});
  test::pipe_pair pipe;
  std::vector<std::vector<std::byte>> buffers(8, std::vector<std::byte>(8));
  {
    std::vector<task<std::size_t>> readers;
    for (auto& b : buffers) readers.push_back(read_pipe(ring, pipe.fds[0], b));
    for (auto& r : readers) detail::task_access::start(r);
    sync_wait(ring, yield_then(ring, 2, 0));
    CHECK(ring.stats().backlogged > 0);
  }
  CHECK(sync_wait(ring, nop_then(ring, 7)) == 7);  // the ring still works
}

TEST_CASE("an unused ring is created and destroyed", "[runtime]") {
  io_ring ring;
  CHECK(ring.sq_entries() >= 256);
  CHECK(ring.cq_entries() >= ring.sq_entries());
  CHECK((ring.setup_flags() & IORING_SETUP_SINGLE_ISSUER) != 0);
  CHECK(ring.supports(IORING_OP_OPENAT));
}

TEST_CASE("a kernel lacking a feature the runtime relies on is refused with ENOSYS",
          "[runtime]") {
  struct restore {
    ~restore() { detail::simulate_missing_ring_feature({}); }
  } restore;
  for (const char* feature : {"IORING_FEAT_CQE_SKIP", "IORING_ASYNC_CANCEL_ANY"}) {
    CAPTURE(feature);
    detail::simulate_missing_ring_feature(feature);
    const int fds_before = test::open_fds();
    try {
      io_ring ring;
      FAIL("accepted a kernel without " << feature);
    } catch (const std::system_error& e) {
      CHECK_THAT(e, test::has_errno(ENOSYS));
      CHECK_THAT(e.what(), Catch::Contains(feature));
    }
    CHECK(test::open_fds() == fds_before);  // the ring's descriptor went with the refusal
  }
  detail::simulate_missing_ring_feature({});
  io_ring ring;  // this kernel has them all
  CHECK(sync_wait(ring, nop_then(ring, 3)) == 3);
}

TEST_CASE("sync_wait from inside a coroutine on the same ring is refused", "[runtime]") {
  io_ring ring;
  auto nested = [&]() -> task<int> { co_return sync_wait(ring, answer()); };
  CHECK_THROWS_AS(sync_wait(ring, nested()), std::logic_error);
}

TEST_CASE("a refused nested sync_wait leaves nothing queued to resume", "[runtime][lifetime]") {
  io_ring ring;
  bool inner_ran = false;
  auto inner = [&]() -> task<int> {
    inner_ran = true;
    co_return 1;
  };
  auto outer = [&]() -> task<int> {
    try {
      (void)sync_wait(ring, inner());  // refused; the inner task dies with the exception
    } catch (const std::logic_error&) {
    }
    for (int i = 0; i < 3; ++i) co_await ring.yield();  // turns in which a stale entry runs
    co_return 2;
  };
  CHECK(sync_wait(ring, outer()) == 2);
  CHECK_FALSE(inner_ran);
}

TEST_CASE("a task started early can be awaited later, finished or not", "[runtime]") {
  io_ring ring;
  auto early = nop_then(ring, 5);
  detail::task_access::start(early);  // suspended in its nop
  CHECK(sync_wait(ring, std::move(early)) == 5);

  auto done_early = answer();
  detail::task_access::start(done_early);  // runs to completion at once
  auto join = [&]() -> task<int> { co_return co_await done_early; };
  CHECK(sync_wait(ring, join()) == 42);
}

TEST_CASE("an openat abandoned in flight closes the descriptor it won", "[runtime][lifetime]") {
  test::scratch_dir dir;
  io_ring ring;
  const std::string path = dir.path();
  // The task owns what it gets: when the loop resumes it before it dies (the openat was
  // quick), its result closes the descriptor, as a caller's would.
  auto open_tmpfile = [&]() -> task<unique_fd> {
    co_return unique_fd(co_await ops::openat(ring, AT_FDCWD, path.c_str(),
                                             O_TMPFILE | O_RDWR | O_CLOEXEC, 0600));
  };
  const int fds_before = test::open_fds();
  for (int i = 0; i < 50; ++i) {
    auto opening = open_tmpfile();
    detail::task_access::start(opening);  // the openat is queued for the kernel
    if (i % 2) sync_wait(ring, yield_then(ring, 1, 0));  // and, half the time, submitted
  }  // each task dies with its openat in flight, completed, or (rarely) finished
  CHECK(test::open_fds() == fds_before);
}

TEST_CASE("creations abandoned in flight leave no name and no descriptor", "[runtime][lifetime]") {
  test::scratch_dir dir;
  io_ring ring;
  const int fds_before = test::open_fds();
  // Each create dies queued, in flight, completed or (rarely) finished; a finished one owns
  // its file or directory and removes it as it goes.
  auto abandon = [&](auto make) {
    for (int i = 0; i < 100; ++i) {
      auto creating = make();
      detail::task_access::start(creating);
      if (i % 2) sync_wait(ring, yield_then(ring, 1, 0));
    }
  };
  abandon([&] { return named_temporary_file::create(ring, options().dir(dir.path())); });
  abandon([&] { return temporary_directory::create(ring, options().dir(dir.path())); });
  CHECK(test::open_fds() == fds_before);
  CHECK(dir.entries() == 0);
}

TEST_CASE("a close still waiting for a ring slot when its task dies leaks no descriptor",
          "[runtime][lifetime]") {
  test::scratch_dir dir;
  const int fds_before = test::open_fds();
  {
    ring_options tiny;
    tiny.entries = 2;
    io_ring ring(tiny);
    auto open_files = [&]() -> task<std::vector<temporary_file>> {
      std::vector<temporary_file> files;
      for (int i = 0; i < 16; ++i)
        files.push_back(co_await temporary_file::create(ring, options().dir(dir.path()).buffering(0)));
      co_return files;
    };
    std::vector<temporary_file> files = sync_wait(ring, open_files());
    const std::uint64_t backlogged_before = ring.stats().backlogged;
    std::vector<task<void>> closing;
    for (temporary_file& file : files) {
      closing.push_back(file.close());
      detail::task_access::start(closing.back());  // a few closes take the slots, the rest wait
    }
    CHECK(ring.stats().backlogged > backlogged_before);
    closing.clear();  // the tasks die: closes in flight finish, closes waiting never run
  }
  CHECK(test::open_fds() == fds_before);
}

namespace {

/// A pipe whose buffer is full: a blocking write to `fds[1]` waits until cancelled.
struct full_pipe : test::pipe_pair {
  full_pipe() {
    REQUIRE(::fcntl(fds[1], F_SETFL, O_NONBLOCK) == 0);
    const std::string chunk(4096, 'p');
    while (::write(fds[1], chunk.data(), chunk.size()) > 0) {
    }
    REQUIRE(::fcntl(fds[1], F_SETFL, 0) == 0);
  }
};

bool is_open(int fd) { return ::fcntl(fd, F_GETFD) != -1; }

task<std::pair<int, int>> write_then_close(io_ring& ring, unique_fd& file,
                                           std::span<const std::byte> data) {
  const auto done = co_await detail::close_chain(ring, file, data, 0, nullptr);
  co_return std::pair(done.written, done.closed);
}

}  // namespace

namespace {

/// Runs `first` (a failing op, with IOSQE_IO_LINK) and a NOP linked after it on a plain
/// liburing ring; returns whether the NOP ran.
template <class Prepare>
bool chain_goes_on_after_failed(Prepare first) {
  io_uring raw;
  REQUIRE(io_uring_queue_init(4, &raw, 0) == 0);
  io_uring_sqe* sqe = io_uring_get_sqe(&raw);
  first(*sqe);
  sqe->flags |= IOSQE_IO_LINK;
  sqe->user_data = 1;
  sqe = io_uring_get_sqe(&raw);
  io_uring_prep_nop(sqe);
  sqe->user_data = 2;
  REQUIRE(io_uring_submit_and_wait(&raw, 2) == 2);
  int results[3] = {0, 0, 0};
  for (int i = 0; i < 2; ++i) {
    io_uring_cqe* cqe;
    REQUIRE(io_uring_wait_cqe(&raw, &cqe) == 0);
    results[cqe->user_data] = cqe->res;
    io_uring_cqe_seen(&raw, cqe);
  }
  io_uring_queue_exit(&raw);
  CHECK(results[1] < 0);  // the first op did fail
  return results[2] != -ECANCELED;
}

/// Runs `first` (a failing op whose failure does not break a chain) with IOSQE_IO_LINK and
/// IOSQE_CQE_SKIP_SUCCESS, then a NOP; returns the user_data of each CQE posted.
template <class Prepare>
std::vector<std::uint64_t> completions_after_failed_skipping_success(Prepare first) {
  io_uring raw;
  REQUIRE(io_uring_queue_init(4, &raw, 0) == 0);
  io_uring_sqe* sqe = io_uring_get_sqe(&raw);
  first(*sqe);
  sqe->flags |= IOSQE_IO_LINK | IOSQE_CQE_SKIP_SUCCESS;
  sqe->user_data = 1;
  sqe = io_uring_get_sqe(&raw);
  io_uring_prep_nop(sqe);
  sqe->user_data = 2;
  REQUIRE(io_uring_submit_and_wait(&raw, 1) == 2);
  ::usleep(20'000);  // time for a completion that would come late
  std::vector<std::uint64_t> posted;
  io_uring_cqe* cqe;
  while (io_uring_peek_cqe(&raw, &cqe) == 0) {
    posted.push_back(cqe->user_data);
    io_uring_cqe_seen(&raw, cqe);
  }
  io_uring_queue_exit(&raw);
  return posted;
}

}  // namespace

TEST_CASE("the kernel's chain rule the library's chains follow: a failed fsync, linkat, "
          "renameat or unlinkat lets a chain go on, a failed open, write or close breaks it",
          "[runtime][linked]") {
  int pipe_fds[2];
  REQUIRE(::pipe2(pipe_fds, O_CLOEXEC) == 0);
  const unique_fd read_end(pipe_fds[0]), write_end(pipe_fds[1]);
  const int pipe_fd = read_end.get();
  // So one of the first four comes before another op in the library's chains only where
  // that op must run anyway (detail::linked_ops::add_after_any); should a kernel start
  // breaking chains on them too, that stays safe.
  CHECK(chain_goes_on_after_failed([&](io_uring_sqe& s) { io_uring_prep_fsync(&s, pipe_fd, 0); }));
  CHECK(chain_goes_on_after_failed([](io_uring_sqe& s) {
    io_uring_prep_linkat(&s, AT_FDCWD, "/nonexistent/a", AT_FDCWD, "/nonexistent/b", 0);
  }));
  CHECK(chain_goes_on_after_failed([](io_uring_sqe& s) {
    io_uring_prep_renameat(&s, AT_FDCWD, "/nonexistent/a", AT_FDCWD, "/nonexistent/b", 0);
  }));
  CHECK(chain_goes_on_after_failed(
      [](io_uring_sqe& s) { io_uring_prep_unlinkat(&s, AT_FDCWD, "/nonexistent/a", 0); }));
  CHECK_FALSE(chain_goes_on_after_failed([](io_uring_sqe& s) {
    io_uring_prep_openat(&s, AT_FDCWD, "/nonexistent/a", O_RDONLY, 0);
  }));
  CHECK_FALSE(chain_goes_on_after_failed([&](io_uring_sqe& s) {
    io_uring_prep_write(&s, pipe_fd, "x", 1, 0);  // the read end: EBADF
  }));
  CHECK_FALSE(chain_goes_on_after_failed([](io_uring_sqe& s) { io_uring_prep_close(&s, 100000); }));
}

TEST_CASE("the kernel posts nothing for a failed fsync or linkat that carries "
          "IOSQE_CQE_SKIP_SUCCESS in a chain: such ops report without it",
          "[runtime][linked]") {
  // So detail::linked_ops places an op that lets its chain go on without the flag.
  test::pipe_pair pipe;
  const int pipe_fd = pipe.fds[0];
  CHECK(completions_after_failed_skipping_success(
            [&](io_uring_sqe& s) { io_uring_prep_fsync(&s, pipe_fd, 0); }) ==
        std::vector<std::uint64_t>{2});
  CHECK(completions_after_failed_skipping_success([](io_uring_sqe& s) {
          io_uring_prep_linkat(&s, AT_FDCWD, "/nonexistent/a", AT_FDCWD, "/nonexistent/b", 0);
        }) == std::vector<std::uint64_t>{2});
}

TEST_CASE("a linked write and close: the close runs only after a complete write",
          "[runtime][linked]") {
  test::scratch_dir dir;
  io_ring ring;
  const std::string text = "linked";
  const auto bytes = std::as_bytes(std::span(text));

  unique_fd file(::open((dir / "complete").c_str(), O_CREAT | O_RDWR | O_CLOEXEC, 0600));
  const int fd = file.get();
  const auto [written, closed] = sync_wait(ring, write_then_close(ring, file, bytes));
  CHECK(written == static_cast<int>(text.size()));
  CHECK(closed == 0);
  CHECK_FALSE(is_open(fd));
  file.release();  // the kernel closed it
  CHECK(test::slurp(dir / "complete") == text);

  unique_fd read_only(::open((dir / "complete").c_str(), O_RDONLY | O_CLOEXEC));
  const auto [refused, cancelled] = sync_wait(ring, write_then_close(ring, read_only, bytes));
  CHECK(refused == -EBADF);
  CHECK(cancelled == -ECANCELED);
  CHECK(is_open(read_only.get()));  // a failed write leaves the descriptor open
}

TEST_CASE("a linked pair destroyed in flight cancels both and leaves the descriptor open",
          "[runtime][linked][lifetime]") {
  full_pipe pipe;
  io_ring ring;
  const std::string text = "never written";
  unique_fd writer(::dup(pipe.fds[1]));
  {
    auto pair = write_then_close(ring, writer, std::as_bytes(std::span(text)));
    detail::task_access::start(pair);
    sync_wait(ring, yield_then(ring, 3, 0));  // the chain reaches the kernel and blocks
    CHECK(ring.stats().submitted >= 2);
  }  // the frame dies: the write is cancelled, so the close never runs
  CHECK(is_open(writer.get()));
  CHECK(sync_wait(ring, nop_then(ring, 7)) == 7);  // the ring still works
}

TEST_CASE("linked pairs backlogged or in flight when their tasks or ring die leak nothing",
          "[runtime][linked][lifetime]") {
  full_pipe pipe;
  const int fds_before = test::open_fds();
  const std::string text = "x";
  std::vector<unique_fd> writers;
  for (int i = 0; i < 6; ++i) writers.emplace_back(::dup(pipe.fds[1]));
  std::vector<task<std::pair<int, int>>> pairs;
  {
    io_ring ring(ring_options{.entries = 2, .cq_entries = 4});  // room for two pairs
    for (auto& writer : writers)
      pairs.push_back(write_then_close(ring, writer, std::as_bytes(std::span(text))));
    for (auto& pair : pairs) detail::task_access::start(pair);
    sync_wait(ring, yield_then(ring, 3, 0));
    CHECK(ring.stats().backlogged > 0);
    pairs.erase(pairs.begin() + 3, pairs.end());  // three die in the ring's lifetime
  }  // the ring cancels the rest and cuts them loose
  pairs.clear();
  for (const auto& writer : writers) CHECK(is_open(writer.get()));  // no close ran
  writers.clear();
  CHECK(test::open_fds() == fds_before);
}
