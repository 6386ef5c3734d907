// An HTTP/1.1 upload server on Boost.Beast and the tempfile library. Uploads are spooled
// (memory up to --max-memory, then an unnamed file in the store) and published atomically.
//   upload_server --store DIR [--port N] [--max-memory BYTES] [--max-body BYTES]
//                 [--durable] [--sync | --discard]
//   PUT /name   store the body as `name` (201; 409 if taken)
//   POST /      store the body under a name the server picks (201, Location)
//   GET /name   the stored file
//   GET /health 200 at once
// SIGINT/SIGTERM: uploads in flight are abandoned, nothing partial is published.
// --sync stores with blocking calls in the handlers; --discard hashes bodies and stores
// nothing (both are the benchmark's baselines).

#include <boost/asio/io_context.hpp>

#include <tempfile/asio.hpp>
#include <tempfile/io_ring.hpp>

#include <cstdio>
#include <exception>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string_view>

#include "config.hpp"
#include "server.hpp"
#include "storage.hpp"

int main(int argc, char** argv) {
  for (int i = 1; i < argc; ++i) {
    if (std::string_view(argv[i]) == "--help" || std::string_view(argv[i]) == "-h") {
      std::printf("usage: upload_server --store DIR [--port N] [--max-memory BYTES] "
                  "[--max-body BYTES] [--durable] [--sync | --discard]\n");
      return 0;
    }
  }
  upload_server::config settings;
  try {
    settings = upload_server::parse_command_line(argc, argv);
  } catch (const std::invalid_argument& e) {
    std::fprintf(stderr, "upload_server: %s (see --help)\n", e.what());
    return 2;
  }
  try {
    boost::asio::io_context context(1);
    // One thread: it owns the ring and runs the context that drives it.
    std::optional<tempfile::io_ring> ring;
    std::optional<tempfile::asio::ring_attachment> attachment;
    std::unique_ptr<upload_server::storage> files;
    if (settings.sync) {
      files = upload_server::make_sync_storage(settings);
    } else if (settings.discard) {
      files = upload_server::make_discard_storage();
    } else {
      ring.emplace();
      attachment.emplace(context, *ring);
      files = upload_server::make_ring_storage(*ring, settings);
    }
    upload_server::server server(context, settings, *files, [&] { attachment.reset(); });
    server.start();
    std::printf("upload_server: listening on port %u, storing in %s%s%s\n", server.port(),
                settings.store.c_str(), settings.durable ? ", durable" : "",
                settings.sync ? ", synchronous" : settings.discard ? ", discarding bodies" : "");
    std::fflush(stdout);
    context.run();
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "upload_server: %s\n", e.what());
    return 1;
  }
}
