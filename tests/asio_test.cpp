// <tempfile/asio.hpp>: a ring driven by an io_context, tasks awaited from Asio with
// use_awaitable, callbacks and deferred, exceptions carried over, cancellation.

#include <fcntl.h>
#include <unistd.h>

#include <tempfile/asio.hpp>
#include <tempfile/tempfile.hpp>

#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/deferred.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <chrono>
#include <optional>
#include <string>
#include <system_error>
#include <variant>
#include <vector>

#include "asio_support.hpp"
#include "support.hpp"

using namespace tempfile;
using namespace test::asio;
using namespace boost::asio::experimental::awaitable_operators;

namespace {

/// An io_context with a ring attached; `run(body)` runs the awaitable to its end, then
/// detaches so that `io_context::run` returns, and rethrows what the body threw.
class attached_context {
 public:
  attached_context() : attachment_(std::in_place, context_, ring_) {}
  io_ring& ring() { return ring_; }
  net::io_context& context() { return context_; }

  void run(net::awaitable<void> body) {
    std::exception_ptr error;
    net::co_spawn(context_, std::move(body), [&](std::exception_ptr e) {
      error = e;
      attachment_.reset();
    });
    context_.run();
    if (error) std::rethrow_exception(error);
  }

 private:
  io_ring ring_;
  net::io_context context_;
  std::optional<asio::ring_attachment> attachment_;
};

task<void> fail_with(int error) {
  throw std::system_error(error, std::generic_category(), "from the task");
  co_return;
}

// Writes a named file, then waits on the pipe before it would publish.
task<void> write_then_publish(io_ring& ring, std::string dir, std::string target, int pipe) {
  auto file = co_await named_temporary_file::create(ring, options().dir(dir));
  co_await file.write(std::string(100'000, 'x'));
  co_await file.flush();
  co_await read_pipe(ring, pipe);
  co_await file.persist(target);
}

task<void> yield_forever(io_ring& ring, int& yields) {
  for (;;) {
    co_await ring.yield();
    ++yields;
  }
}

}  // namespace

TEST_CASE("a task awaited from an Asio coroutine runs on the attached ring", "[asio]") {
  attached_context io;
  test::scratch_dir dir;
  std::string back;
  io.run([&]() -> net::awaitable<void> {
    back = co_await asio::async_run(io.ring(), write_and_read_back(io.ring(), dir.path(), "over asio"),
                                    net::use_awaitable);
  }());
  CHECK(back == "over asio");
  CHECK(dir.entries() == 0);
}

TEST_CASE("a task's exception reaches the Asio coroutine with its errno", "[asio]") {
  attached_context io;
  int caught = 0;
  io.run([&]() -> net::awaitable<void> {
    caught = co_await errno_of(
        asio::async_run(io.ring(), fail_with(ENOSPC), net::use_awaitable));
  }());
  CHECK(caught == ENOSPC);
}

TEST_CASE("async_run completes callbacks and deferred operations", "[asio]") {
  io_ring ring;
  net::io_context context;
  std::optional<asio::ring_attachment> attachment(std::in_place, context, ring);
  int from_callback = 0;
  std::exception_ptr callback_error;
  int from_deferred = 0;
  asio::async_run(ring, forty_two(), [&](std::exception_ptr e, int value) {
    callback_error = e;
    from_callback = value;
    auto later = asio::async_run(ring, forty_two(), net::deferred);
    std::move(later)([&](std::exception_ptr, int value) {
      from_deferred = value;
      attachment.reset();
    });
  });
  context.run();
  CHECK_FALSE(callback_error);
  CHECK(from_callback == 42);
  CHECK(from_deferred == 42);
}

TEST_CASE("a timeout cancels the task's read in flight and the ring goes on", "[asio][cancel]") {
  test::pipe_pair pipe;
  const int fds_before = test::open_fds();
  std::size_t winner = 99;
  int after_cancel = 0;
  std::optional<attached_context> io(std::in_place);
  io->run([&]() -> net::awaitable<void> {
    auto result = co_await (asio::async_run(io->ring(), read_pipe(io->ring(), pipe.fds[0]),
                                            net::use_awaitable) ||
                            after(std::chrono::milliseconds(20)));
    winner = result.index();
    after_cancel = co_await asio::async_run(io->ring(), forty_two(), net::use_awaitable);
  }());
  io.reset();
  CHECK(winner == 1);
  CHECK(after_cancel == 42);
  CHECK(test::open_fds() == fds_before);
  // The cancelled read took nothing: the bytes are still in the pipe.
  REQUIRE(::write(pipe.fds[1], "late", 4) == 4);
  char back[4];
  REQUIRE(::read(pipe.fds[0], back, 4) == 4);
  CHECK(std::string(back, 4) == "late");
}

TEST_CASE("a cancelled task leaves no file behind and publishes nothing", "[asio][cancel]") {
  test::scratch_dir dir;
  test::scratch_dir store;
  test::pipe_pair pipe;
  const int fds_before = test::open_fds();
  int caught = 0;
  std::optional<attached_context> io(std::in_place);
  io->run([&]() -> net::awaitable<void> {
    net::cancellation_signal cancel;
    net::steady_timer timer(co_await net::this_coro::executor, std::chrono::milliseconds(20));
    timer.async_wait([&](boost::system::error_code) { cancel.emit(net::cancellation_type::terminal); });
    caught = co_await errno_of(asio::async_run(
        io->ring(), write_then_publish(io->ring(), dir.path(), store / "published", pipe.fds[0]),
        net::bind_cancellation_slot(cancel.slot(), net::use_awaitable)));
  }());
  io.reset();
  CHECK(caught == ECANCELED);
  CHECK(dir.entries() == 0);
  CHECK(store.entries() == 0);
  CHECK(test::open_fds() == fds_before);
}

TEST_CASE("cancelling a task suspended in yield leaves the ring's queue clean",
          "[asio][cancel][lifetime]") {
  attached_context io;
  int yields = 0;
  std::size_t winner = 99;
  int after_cancel = 0;
  io.run([&]() -> net::awaitable<void> {
    auto result = co_await (asio::async_run(io.ring(), yield_forever(io.ring(), yields),
                                            net::use_awaitable) ||
                            after(std::chrono::milliseconds(20)));
    winner = result.index();
    after_cancel = co_await asio::async_run(io.ring(), forty_two(), net::use_awaitable);
  }());
  CHECK(winner == 1);
  CHECK(yields > 0);
  CHECK(after_cancel == 42);
}

TEST_CASE("a cancellation emitted right after the start completes with ECANCELED",
          "[asio][cancel]") {
  // Whether the ring's step ran the task before the posted cancellation or not, the read
  // never completes, so the outcome is the cancellation.
  attached_context io;
  test::pipe_pair pipe;
  int caught = 0;
  io.run([&]() -> net::awaitable<void> {
    net::cancellation_signal cancel;
    // co_spawn runs it at once up to its post; it emits once the co_await below has
    // initiated the operation.
    net::co_spawn(
        co_await net::this_coro::executor,
        [&]() -> net::awaitable<void> {
          co_await net::post(co_await net::this_coro::executor, net::use_awaitable);
          cancel.emit(net::cancellation_type::terminal);
          co_return;
        },
        net::detached);
    caught = co_await errno_of(
        asio::async_run(io.ring(), read_pipe(io.ring(), pipe.fds[0]),
                        net::bind_cancellation_slot(cancel.slot(), net::use_awaitable)));
  }());
  CHECK(caught == ECANCELED);
}

TEST_CASE("async_run needs an attached ring; a ring is attached once", "[asio]") {
  io_ring ring;
  net::io_context context;
  CHECK_THROWS_AS(asio::async_run(ring, forty_two(), net::detached), std::logic_error);
  asio::ring_attachment attachment(context, ring);
  CHECK_THROWS_AS(asio::ring_attachment(context, ring), std::logic_error);
}

TEST_CASE("a timeout cancelling a large write never stalls the context's other handlers",
          "[asio][cancel][large]") {
  // One 768 MiB write in flight when a 20 ms timeout wins: the kernel finishes the write
  // (it cannot be stopped half-way), and the context keeps running a 1 ms heartbeat
  // meanwhile. A cancellation that waited for the kernel on the context's thread stalled
  // the heartbeat for the whole write (seconds). The test keeps a second descriptor of the
  // file until the end: the last close of 768 MiB frees its pages inline (~0.2 ms a MiB
  // on tmpfs here), a cost of dropping any such file, cancelled or not.
  test::scratch_dir dir("/dev/shm");
  constexpr std::size_t size = std::size_t{768} << 20;
  const std::string payload(size, 'w');
  const int fds_before = test::open_fds();
  std::optional<unique_fd> keeps_pages;
  auto write_all = [&](io_ring& ring) -> task<void> {
    auto file = co_await temporary_file::create(ring, options().dir(dir.path()).buffering(0));
    keeps_pages.emplace(::fcntl(file.fileno(), F_DUPFD_CLOEXEC, 0));
    co_await file.write(payload);
  };
  std::size_t winner = 99;
  std::chrono::steady_clock::duration worst_gap{};
  int after_cancel = 0;
  bool racing = true;
  std::optional<attached_context> io(std::in_place);
  io->run([&]() -> net::awaitable<void> {
    net::co_spawn(
        co_await net::this_coro::executor,
        [&]() -> net::awaitable<void> {
          net::steady_timer beat(co_await net::this_coro::executor);
          auto last = std::chrono::steady_clock::now();
          while (racing) {
            beat.expires_after(std::chrono::milliseconds(1));
            co_await beat.async_wait(net::use_awaitable);
            const auto now = std::chrono::steady_clock::now();
            worst_gap = std::max(worst_gap, now - last);
            last = now;
          }
        },
        net::detached);
    auto result = co_await (asio::async_run(io->ring(), write_all(io->ring()), net::use_awaitable) ||
                            after(std::chrono::milliseconds(20)));
    winner = result.index();
    after_cancel = co_await asio::async_run(io->ring(), forty_two(), net::use_awaitable);
    racing = false;
  }());
  io.reset();
  keeps_pages.reset();
  CHECK(winner == 1);
  CHECK(after_cancel == 42);
  CHECK(dir.entries() == 0);
  CHECK(test::open_fds() == fds_before);
  const auto worst_ms = std::chrono::duration_cast<std::chrono::milliseconds>(worst_gap).count();
  INFO("worst heartbeat gap " << worst_ms << " ms");
  CHECK(worst_ms < 200);
}
