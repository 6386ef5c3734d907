// An upload spooled and published from an Asio coroutine; a failure is printed, not lost.
#include <tempfile/asio.hpp>
#include <tempfile/tempfile.hpp>

#include <boost/asio.hpp>

#include <unistd.h>

#include <cstdio>
#include <exception>
#include <string>

namespace net = boost::asio;

int main() {
  // Any order of these three is safe; the ring belongs to this thread, which runs `context`.
  tempfile::io_ring ring;
  net::io_context context;
  tempfile::asio::ring_attachment attachment(context, ring);
  const auto target = tempfile::gettempdir() / ("upload-" + std::to_string(::getpid()));
  int status = 1;
  net::co_spawn(context, [&]() -> net::awaitable<void> {
    tempfile::spooled_temporary_file upload(ring, tempfile::options().max_size(1 << 20));
    co_await tempfile::asio::async_run(ring, upload.write("body"), net::use_awaitable);
    co_await tempfile::asio::async_run(ring, upload.link(target), net::use_awaitable);
  }, [&](std::exception_ptr error) {
    try {
      if (error) std::rethrow_exception(error);
      std::printf("published %s\n", target.c_str());
      status = std::remove(target.c_str()) == 0 ? 0 : 1;
    } catch (const std::exception& e) {
      std::fprintf(stderr, "upload failed: %s\n", e.what());
    }
  });
  context.run();  // returns once the upload is done: an idle attachment is not work
  return status;
}
