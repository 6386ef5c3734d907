// io_ring::poll and poll_fd: the ring driven by a plain epoll loop that sleeps only on
// poll_fd, with and without DEFER_TASKRUN.

#include <sys/epoll.h>
#include <unistd.h>

#include <tempfile/tempfile.hpp>

#include <cerrno>
#include <stdexcept>
#include <string>
#include <vector>

#include "support.hpp"

using namespace tempfile;

namespace {

/// An epoll instance watching one descriptor for input.
class epoll_on {
 public:
  explicit epoll_on(int fd) : epoll_(::epoll_create1(EPOLL_CLOEXEC)) {
    REQUIRE(epoll_ >= 0);
    epoll_event event{};
    event.events = EPOLLIN;
    REQUIRE(::epoll_ctl(epoll_, EPOLL_CTL_ADD, fd, &event) == 0);
  }
  ~epoll_on() { ::close(epoll_); }
  epoll_on(const epoll_on&) = delete;
  epoll_on& operator=(const epoll_on&) = delete;
  /// Whether the descriptor became readable within `timeout_ms`. Without DEFER_TASKRUN a
  /// completion interrupts the wait (EINTR) to run its task work, which then signals.
  bool wait(int timeout_ms) {
    epoll_event event{};
    int rc;
    do rc = ::epoll_wait(epoll_, &event, 1, timeout_ms);
    while (rc < 0 && errno == EINTR);
    return rc == 1;
  }

 private:
  int epoll_;
};

/// Sleeps on poll_fd and polls until `finished()`. A wait that ends without readiness
/// while work is outstanding means a completion was stranded: the generous limit only
/// turns that hang into a failure.
template <class Finished>
void epoll_loop(io_ring& ring, Finished finished) {
  epoll_on loop(ring.poll_fd());
  while (!finished()) {
    INFO("poll_fd stayed quiet while work was outstanding");
    REQUIRE(loop.wait(30'000));
    ring.poll();
  }
}

task<void> write_sync_read(io_ring& ring, std::string dir, std::string text, int& done) {
  auto file = co_await temporary_file::create(ring, options().dir(dir));
  co_await file.write(text);
  co_await file.flush();
  co_await ops::fsync(ring, file.fileno());
  file.seek(0);
  const std::string back = co_await file.read();
  co_await file.close();
  if (back != text) throw std::runtime_error("read back " + back + " after writing " + text);
  ++done;
}

task<void> yield_times(io_ring& ring, int times, int& resumed) {
  for (int i = 0; i < times; ++i) {
    co_await ring.yield();
    ++resumed;
  }
}

}  // namespace

TEST_CASE("an epoll loop sleeping on poll_fd drives files through the ring to the end",
          "[poll]") {
  const bool defer_taskrun = GENERATE(true, false);
  CAPTURE(defer_taskrun);
  io_ring ring(ring_options{.entries = 8, .defer_taskrun = defer_taskrun});
  CHECK(((ring.setup_flags() & IORING_SETUP_DEFER_TASKRUN) != 0) == defer_taskrun);
  test::scratch_dir dir;
  const int files = 64;  // eight times the SQ: the backlog must be drained through poll too
  int done = 0;
  for (int i = 0; i < files; ++i)
    ring.spawn(write_sync_read(ring, dir.path(), "file " + std::to_string(i), done));
  epoll_loop(ring, [&] { return done == files; });
  CHECK(done == files);
  CHECK(dir.entries() == 0);
}

TEST_CASE("poll_fd is readable after spawn and while a coroutine yields", "[poll]") {
  io_ring ring;
  epoll_on loop(ring.poll_fd());
  CHECK_FALSE(loop.wait(0));
  int resumed = 0;
  ring.spawn(yield_times(ring, 3, resumed));
  for (int expected = 0; expected < 3; ++expected) {
    REQUIRE(loop.wait(0));
    ring.poll();
    CHECK(resumed == expected);
  }
  REQUIRE(loop.wait(0));
  ring.poll();
  CHECK(resumed == 3);
  CHECK_FALSE(loop.wait(0));
}

TEST_CASE("a poll_fd made after work was queued is readable at once", "[poll]") {
  io_ring ring;
  int resumed = 0;
  ring.spawn(yield_times(ring, 1, resumed));
  epoll_on loop(ring.poll_fd());
  CHECK(loop.wait(0));
  epoll_loop(ring, [&] { return resumed == 1; });
}

TEST_CASE("poll rethrows a spawned task's exception", "[poll]") {
  io_ring ring;
  ring.spawn([]() -> task<void> {
    throw std::runtime_error("spawned failure");
    co_return;
  }());
  CHECK_THROWS_WITH(ring.poll(), "spawned failure");
  CHECK_NOTHROW(ring.poll());
}

TEST_CASE("poll from a coroutine on the same ring is refused", "[poll]") {
  io_ring ring;
  auto nested = [](io_ring& r) -> task<void> {
    r.poll();
    co_return;
  };
  CHECK_THROWS_AS(sync_wait(ring, nested(ring)), std::logic_error);
}

TEST_CASE("sync_wait and run still work on a ring that has a poll_fd", "[poll]") {
  io_ring ring;
  (void)ring.poll_fd();
  int resumed = 0;
  sync_wait(ring, yield_times(ring, 2, resumed));
  ring.spawn(yield_times(ring, 2, resumed));
  ring.run();
  CHECK(resumed == 4);
}

TEST_CASE("destroying a coroutine suspended in yield leaves nothing queued to resume",
          "[poll][lifetime]") {
  io_ring ring;
  int resumed = 0;
  {
    auto yielding = yield_times(ring, 5, resumed);
    detail::task_access::start(yielding);  // now queued on the ring, in its yield
  }  // frame destroyed while queued
  int other = 0;
  ring.spawn(yield_times(ring, 1, other));
  epoll_loop(ring, [&] { return other == 1; });
  CHECK(resumed == 0);
}

TEST_CASE("a coroutine suspended in yield may outlive its ring", "[poll][lifetime]") {
  int resumed = 0;
  task<void> yielding;
  {
    io_ring ring;
    yielding = yield_times(ring, 5, resumed);
    detail::task_access::start(yielding);
  }
  yielding = {};  // its queue entry went with the ring
  CHECK(resumed == 0);
}
