// <tempfile/asio.hpp> the way Asio's own objects behave: ring, context and attachment
// destroyed in any order, an idle attachment that is not work, async_run from any thread,
// move-only results, and a ring or context used from the wrong thread.

#include <tempfile/asio.hpp>
#include <tempfile/tempfile.hpp>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <array>
#include <atomic>
#include <chrono>
#include <optional>
#include <stdexcept>
#include <string>
#include <system_error>
#include <thread>

#include "asio_support.hpp"
#include "support.hpp"

using namespace tempfile;
using namespace test::asio;

namespace {

int errno_in(const std::exception_ptr& error) {
  if (!error) return 0;
  try {
    std::rethrow_exception(error);
  } catch (const std::system_error& e) {
    return e.code().value();
  } catch (...) {
    return -1;
  }
}

enum class part { ring, context, attachment };

const char* name_of(part p) {
  switch (p) {
    case part::ring: return "ring";
    case part::context: return "context";
    case part::attachment: return "attachment";
  }
  return "?";
}

/// A ring driven by an io_context on this thread, beside a thread pool whose coroutines use
/// it; the context keeps running until `release()`, which any thread may call.
struct ring_beside_pool {
  explicit ring_beside_pool(std::size_t threads) : pool(threads) {}
  void release() {
    net::post(context, [this] { keep_running.reset(); });
  }

  io_ring ring;
  net::io_context context;
  tempfile::asio::ring_attachment attachment{context, ring};
  net::thread_pool pool;
  net::executor_work_guard<net::io_context::executor_type> keep_running =
      net::make_work_guard(context);
};

}  // namespace

TEST_CASE("ring, context and attachment go in any order with an async_run in flight",
          "[asio][lifetime]") {
  using order = std::array<part, 3>;
  const order destroyed = GENERATE(order{part::ring, part::context, part::attachment},
                                   order{part::ring, part::attachment, part::context},
                                   order{part::context, part::ring, part::attachment},
                                   order{part::context, part::attachment, part::ring},
                                   order{part::attachment, part::ring, part::context},
                                   order{part::attachment, part::context, part::ring});
  CAPTURE(name_of(destroyed[0]), name_of(destroyed[1]), name_of(destroyed[2]));
  test::pipe_pair pipe;
  const int fds_before = test::open_fds();
  int calls = 0;
  int error = 0;
  {
    std::optional<io_ring> ring(std::in_place);
    std::optional<net::io_context> context(std::in_place);
    std::optional<tempfile::asio::ring_attachment> attachment(std::in_place, *context, *ring);
    tempfile::asio::async_run(*ring, read_pipe(*ring, pipe.fds[0]),
                              [&](std::exception_ptr e, std::size_t) {
                                ++calls;
                                error = errno_in(e);
                              });
    context->run_for(std::chrono::milliseconds(30));  // the read is in flight now
    REQUIRE(calls == 0);
    bool ring_before_context = false;
    for (const part p : destroyed) {
      switch (p) {
        case part::ring:
          ring.reset();
          ring_before_context = context.has_value();
          break;
        case part::context: context.reset(); break;
        case part::attachment: attachment.reset(); break;
      }
      if (context) {  // whatever was posted runs, as it would in a running context
        context->restart();
        context->poll();
      }
    }
    if (ring_before_context) {
      CHECK(calls == 1);
      CHECK(error == ECANCELED);
    } else {
      CHECK(calls == 0);  // a context destroyed first destroys its handlers uninvoked
    }
  }
  CHECK(test::open_fds() == fds_before);
  // The read took nothing from the pipe.
  REQUIRE(::write(pipe.fds[1], "late", 4) == 4);
  char back[4];
  REQUIRE(::read(pipe.fds[0], back, 4) == 4);
}

TEST_CASE("an attachment with nothing in flight is not work: run() returns", "[asio][lifetime]") {
  io_ring ring;
  net::io_context context;
  tempfile::asio::ring_attachment attachment(context, ring);
  int value = 0;
  tempfile::asio::async_run(ring, forty_two(), [&](std::exception_ptr, int v) { value = v; });
  CHECK(runs_out_within(context, std::chrono::seconds(3)));
  CHECK(value == 42);
  // Attached and idle, a context run again returns at once, and work given later still runs.
  context.restart();
  context.run();
  tempfile::asio::async_run(ring, forty_two(), [&](std::exception_ptr, int v) { value = v + 1; });
  context.restart();
  CHECK(runs_out_within(context, std::chrono::seconds(3)));
  CHECK(value == 43);
}

TEST_CASE("an attachment destroyed with an async_run in flight drives it to the end",
          "[asio][lifetime]") {
  test::scratch_dir dir;
  io_ring ring;
  net::io_context context;
  std::optional<tempfile::asio::ring_attachment> attachment(std::in_place, context, ring);
  std::string back;
  tempfile::asio::async_run(ring, write_and_read_back(ring, dir.path(), "still driven"),
                            [&](std::exception_ptr, std::string text) { back = std::move(text); });
  attachment.reset();
  CHECK_THROWS_AS(tempfile::asio::async_run(ring, forty_two(), net::detached), std::logic_error);
  CHECK(runs_out_within(context, std::chrono::seconds(3)));
  CHECK(back == "still driven");
  CHECK(dir.entries() == 0);
}

TEST_CASE("a context stopped with an async_run in flight finishes it once run again",
          "[asio][lifetime]") {
  test::pipe_pair pipe;
  io_ring ring;
  net::io_context context;
  tempfile::asio::ring_attachment attachment(context, ring);
  std::size_t read = 0;
  int error = -1;
  tempfile::asio::async_run(ring, read_pipe(ring, pipe.fds[0]),
                            [&](std::exception_ptr e, std::size_t n) {
                              error = errno_in(e);
                              read = n;
                            });
  net::post(context, [&] { context.stop(); });
  context.run();  // returns for the stop, the read still waiting in the kernel
  CHECK(context.stopped());
  CHECK(error == -1);
  REQUIRE(::write(pipe.fds[1], "late", 4) == 4);
  context.restart();
  CHECK(runs_out_within(context, std::chrono::seconds(3)));
  CHECK(error == 0);
  CHECK(read == 4);
}

TEST_CASE("async_run from a thread pool runs the task on the ring's thread",
          "[asio][threads]") {
  test::scratch_dir dir;
  ring_beside_pool io(4);
  constexpr int runs = 200;
  const auto ring_thread = std::this_thread::get_id();
  std::atomic<int> finished{0};
  std::atomic<int> off_ring{0};
  std::atomic<int> handler_off_pool{0};
  std::atomic<int> wrong{0};
  auto checked = [&](int i) -> task<std::string> {
    if (std::this_thread::get_id() != ring_thread) ++off_ring;
    co_return co_await write_and_read_back(io.ring, dir.path(), std::to_string(i));
  };
  for (int i = 0; i < runs; ++i)
    net::co_spawn(
        io.pool,
        [&, i]() -> net::awaitable<void> {
          const std::string back =
              co_await tempfile::asio::async_run(io.ring, checked(i), net::use_awaitable);
          if (back != std::to_string(i)) ++wrong;
          if (!io.pool.get_executor().running_in_this_thread()) ++handler_off_pool;
        },
        [&](std::exception_ptr e) {
          if (e) ++wrong;
          if (++finished == runs) io.release();
        });
  CHECK(runs_out_within(io.context, std::chrono::seconds(60)));
  io.pool.join();
  CHECK(finished == runs);
  CHECK(wrong == 0);
  CHECK(off_ring == 0);
  CHECK(handler_off_pool == 0);
  CHECK(dir.entries() == 0);
}

TEST_CASE("a timeout on a thread pool cancels a task on the ring's thread",
          "[asio][threads][cancel]") {
  test::pipe_pair pipe;
  ring_beside_pool io(2);
  std::size_t winner = 99;
  int after_cancel = 0;
  net::co_spawn(
      io.pool,
      [&]() -> net::awaitable<void> {
        using namespace boost::asio::experimental::awaitable_operators;
        auto reading = tempfile::asio::async_run(io.ring, read_pipe(io.ring, pipe.fds[0]),
                                                 net::use_awaitable);
        auto result = co_await (std::move(reading) || after(std::chrono::milliseconds(20)));
        winner = result.index();
        after_cancel = co_await tempfile::asio::async_run(io.ring, forty_two(), net::use_awaitable);
      },
      [&](std::exception_ptr) { io.release(); });
  CHECK(runs_out_within(io.context, std::chrono::seconds(10)));
  io.pool.join();
  CHECK(winner == 1);
  CHECK(after_cancel == 42);
}

TEST_CASE("io_ring::post from other threads wakes a ring blocked in run()", "[runtime][threads]") {
  io_ring ring;
  const auto ring_thread = std::this_thread::get_id();
  std::atomic<int> ran{0};
  std::atomic<int> off_ring{0};
  auto count = [&]() -> task<void> {
    if (std::this_thread::get_id() != ring_thread) ++off_ring;
    co_await ring.yield();
    ++ran;
  };
  // The ring blocks in the kernel on a read of a pipe until the last posted task writes it.
  test::pipe_pair pipe;
  constexpr int posts = 100;
  auto wait_for_all = [&]() -> task<void> {
    std::size_t got = co_await read_pipe(ring, pipe.fds[0]);
    CHECK(got == 1);
  };
  auto release_the_read = [&]() -> task<void> {
    while (ran != posts) co_await ring.yield();
    REQUIRE(::write(pipe.fds[1], "x", 1) == 1);
  };
  ring.spawn(wait_for_all());
  std::thread poster([&] {
    for (int i = 0; i < posts; ++i) ring.post(count());
    ring.post(release_the_read());
  });
  ring.run();
  poster.join();
  CHECK(ran == posts);
  CHECK(off_ring == 0);
}

TEST_CASE("async_run yields a move-only result that has no default", "[asio]") {
  test::scratch_dir dir;
  io_ring ring;
  net::io_context context;
  std::optional<tempfile::asio::ring_attachment> attachment(std::in_place, context, ring);
  std::string back;
  int missing_dir = 0;
  net::co_spawn(
      context,
      [&]() -> net::awaitable<void> {
        temporary_file file = co_await tempfile::asio::async_run(
            ring, temporary_file::create(ring, options().dir(dir.path())), net::use_awaitable);
        co_await tempfile::asio::async_run(ring, file.write("moved out"), net::use_awaitable);
        file.seek(0);
        back = co_await tempfile::asio::async_run(ring, file.read(), net::use_awaitable);
        co_await tempfile::asio::async_run(ring, file.close(), net::use_awaitable);
        missing_dir = co_await errno_of(tempfile::asio::async_run(
            ring, temporary_file::create(ring, options().dir(dir / "missing")),
            net::use_awaitable));
      },
      [&](std::exception_ptr e) {
        attachment.reset();
        if (e) std::rethrow_exception(e);
      });
  context.run();
  CHECK(back == "moved out");
  CHECK(missing_dir == ENOENT);
  CHECK(dir.entries() == 0);
}

TEST_CASE("async_run hands a callback an empty optional beside the error of a result without "
          "a default", "[asio]") {
  test::scratch_dir dir;
  io_ring ring;
  net::io_context context;
  tempfile::asio::ring_attachment attachment(context, ring);
  int error = 0;
  bool had_file = true;
  tempfile::asio::async_run(ring, temporary_file::create(ring, options().dir(dir / "missing")),
                            [&](std::exception_ptr e, std::optional<temporary_file> file) {
                              error = errno_in(e);
                              had_file = file.has_value();
                            });
  context.run();
  CHECK(error == ENOENT);
  CHECK_FALSE(had_file);
}

TEST_CASE("io_ring::poll and poll_fd off the ring's thread throw before touching it",
          "[asio][threads]") {
  io_ring ring;
  bool ran = false;
  std::thread::id ran_on;
  auto record_thread = [&]() -> task<void> {
    ran = true;
    ran_on = std::this_thread::get_id();
    co_return;
  };
  ring.spawn(record_thread());
  std::thread other([&] {
    CHECK_THROWS_AS(ring.poll(), std::logic_error);
    CHECK_THROWS_AS(ring.poll_fd(), std::logic_error);
  });
  other.join();
  CHECK_FALSE(ran);
  ring.run();
  CHECK(ran);
  CHECK(ran_on == std::this_thread::get_id());
}

TEST_CASE("a context run from a thread other than the ring's says so there and keeps the "
          "ring going from its own", "[asio][threads]") {
  io_ring ring;  // this thread's
  net::io_context context;
  tempfile::asio::ring_attachment attachment(context, ring);
  constexpr int runs = 200;
  int completed = 0;
  for (int i = 0; i < runs; ++i)
    tempfile::asio::async_run(ring, forty_two(), [&](std::exception_ptr e, int v) {
      if (!e && v == 42) ++completed;
    });
  std::string refusal;
  std::thread wrong([&] {
    try {
      context.run();
    } catch (const std::logic_error& e) {
      refusal = e.what();
    }
  });
  wrong.join();
  CHECK(refusal.find("thread") != std::string::npos);
  context.restart();
  CHECK(runs_out_within(context, std::chrono::seconds(5)));
  CHECK(completed == runs);
}

TEST_CASE("an attachment is refused off its ring's thread", "[asio][threads]") {
  io_ring ring;  // this thread's
  std::string refusal;
  std::thread worker([&] {
    net::io_context context;
    try {
      tempfile::asio::ring_attachment attachment(context, ring);
    } catch (const std::logic_error& e) {
      refusal = e.what();
    } catch (const std::system_error& e) {
      refusal = std::string("system_error: ") + e.what();
    }
  });
  worker.join();
  CHECK(refusal.find("thread") != std::string::npos);
  net::io_context context;
  tempfile::asio::ring_attachment attachment(context, ring);  // on its own thread it works
  int value = 0;
  tempfile::asio::async_run(ring, forty_two(), [&](std::exception_ptr, int v) { value = v; });
  context.run();
  CHECK(value == 42);
}
