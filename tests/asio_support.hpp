#pragma once
// Helpers shared by the Asio tests: tasks that finish, fail or wait forever, and awaitables
// that time things from Asio's side.

#include <tempfile/asio.hpp>
#include <tempfile/tempfile.hpp>

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <atomic>
#include <chrono>
#include <cstddef>
#include <string>
#include <system_error>
#include <thread>
#include <vector>

namespace test::asio {

namespace net = boost::asio;

inline tempfile::task<int> forty_two() { co_return 42; }

inline tempfile::task<std::string> write_and_read_back(tempfile::io_ring& ring, std::string dir,
                                                       std::string text) {
  auto file = co_await tempfile::temporary_file::create(ring, tempfile::options().dir(dir));
  co_await file.write(text);
  file.seek(0);
  co_return co_await file.read();
}

/// A read of a pipe nobody writes: in flight until cancelled.
inline tempfile::task<std::size_t> read_pipe(tempfile::io_ring& ring, int fd) {
  std::vector<std::byte> buffer(16);
  co_return co_await tempfile::ops::read(ring, fd, buffer, 0);
}

/// The errno of the std::system_error `operation` throws; 0 if it succeeds.
template <class T>
net::awaitable<int> errno_of(net::awaitable<T> operation) {
  try {
    (void)co_await std::move(operation);
  } catch (const std::system_error& e) {
    co_return e.code().value();
  }
  co_return 0;
}

inline net::awaitable<void> after(std::chrono::milliseconds delay) {
  net::steady_timer timer(co_await net::this_coro::executor, delay);
  co_await timer.async_wait(net::use_awaitable);
}

/// Stops `context` if it is still running after `limit`: a hang becomes a failed check
/// (`fired()`) instead of a test that never ends.
class watchdog {
 public:
  watchdog(net::io_context& context, std::chrono::seconds limit)
      : thread_([this, &context, limit] {
          const auto deadline = std::chrono::steady_clock::now() + limit;
          while (!done_ && std::chrono::steady_clock::now() < deadline)
            std::this_thread::sleep_for(std::chrono::milliseconds(5));
          if (!done_) {
            fired_ = true;
            context.stop();
          }
        }) {}
  ~watchdog() {
    done_ = true;
    thread_.join();
  }
  watchdog(const watchdog&) = delete;
  watchdog& operator=(const watchdog&) = delete;
  bool fired() const { return fired_; }

 private:
  std::atomic<bool> done_{false};
  std::atomic<bool> fired_{false};
  std::thread thread_;
};

/// Runs `context` until it has nothing left to do; false if `limit` passed first.
inline bool runs_out_within(net::io_context& context, std::chrono::seconds limit) {
  const watchdog dog(context, limit);
  context.run();
  return !dog.fired();
}

}  // namespace test::asio
