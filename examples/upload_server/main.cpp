// An HTTP/1.1 upload server on Boost.Beast and the tempfile library. Uploads are spooled
// (memory up to --max-memory, then an unnamed file in the store) and published atomically.
//   PUT /name    store the body as `name` (201; 409 if taken, decided before the body)
//   POST /       store the body under a name the server picks (201, Location)
//   GET /name    the stored file (regular files only, symlinks not followed)
//   GET /health  200 at once
//   GET /metrics Prometheus text
// SIGINT/SIGTERM: uploads in flight are abandoned, nothing partial is published.
// --sync stores with blocking calls in the handlers, --storage asio-file through
// boost::asio::stream_file, --discard hashes bodies and stores nothing (the benchmark's
// baselines). --threads N runs N shards, each a thread with its own io_context, listening
// socket (SO_REUSEPORT), ring and attachment; all share one spool budget and the store's
// descriptor.

#include <boost/asio/io_context.hpp>

#include <tempfile/asio.hpp>
#include <tempfile/io_ring.hpp>
#include <tempfile/spool_budget.hpp>

#include <cstdio>
#include <cstdlib>
#include <exception>
#include <latch>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string_view>
#include <thread>
#include <vector>

#include "config.hpp"
#include "metrics.hpp"
#include "server.hpp"
#include "storage.hpp"

namespace {

using namespace upload_server;

/// What the shards share; each shard's own objects live on its thread.
struct shared {
  const config& settings;
  tempfile::unique_fd store;
  tempfile::spool_budget memory;
  metrics counters;
  std::unique_ptr<storage> files;  // --sync and --discard: one for every shard
  std::latch started;
};

const char* storage_description(const config& settings) {
  switch (settings.storage) {
    case storage_kind::sync: return ", synchronous";
    case storage_kind::asio_file: return ", asio stream_file";
    case storage_kind::discard: return ", discarding bodies";
    case storage_kind::library: break;
  }
  return "";
}

/// Builds shard `index` on the calling thread (a ring belongs to the thread that made it)
/// and runs it until it stops. Shard 0 reports the port once every shard listens.
void run_shard(shared& all, net::io_context& context, net::ip::tcp::acceptor acceptor,
               unsigned index) {
  try {
    std::optional<tempfile::io_ring> ring;
    std::optional<tempfile::asio::ring_attachment> attachment;
    std::unique_ptr<storage> own_files;
    if (all.settings.storage == storage_kind::library) {
      ring.emplace();
      attachment.emplace(context, *ring);
      own_files = make_ring_storage(*ring, all.memory, all.settings, all.store.get());
    } else if (all.settings.storage == storage_kind::asio_file) {
      own_files = make_asio_file_storage(context, all.settings, all.store.get());
    }
    const unsigned short port = acceptor.local_endpoint().port();
    server shard(context, std::move(acceptor), all.settings, own_files ? *own_files : *all.files,
                 all.counters, index, ring ? &*ring : nullptr, [&] { attachment.reset(); });
    shard.start();
    all.started.arrive_and_wait();
    if (index == 0) {
      std::printf("upload_server: listening on port %u, storing in %s%s%s, %u thread%s\n", port,
                  all.settings.store.c_str(), all.settings.durable ? ", durable" : "",
                  storage_description(all.settings), all.settings.threads,
                  all.settings.threads == 1 ? "" : "s");
      std::fflush(stdout);
    }
    context.run();
  } catch (const std::exception& e) {
    // The other shards cannot be stopped from here in any orderly way: the process ends.
    std::fprintf(stderr, "upload_server: %s\n", e.what());
    std::fflush(stderr);
    std::_Exit(1);
  }
}

}  // namespace

int main(int argc, char** argv) {
  for (int i = 1; i < argc; ++i) {
    if (std::string_view(argv[i]) == "--help" || std::string_view(argv[i]) == "-h") {
      std::fputs(usage, stdout);
      return 0;
    }
  }
  config settings;
  try {
    settings = parse_command_line(argc, argv);
  } catch (const std::invalid_argument& e) {
    std::fprintf(stderr, "upload_server: %s (see --help)\n", e.what());
    return 2;
  }
  try {
    shared all{settings, open_store(settings.store), tempfile::spool_budget(settings.max_memory),
               metrics(settings.threads), nullptr, std::latch(settings.threads)};
    if (settings.storage == storage_kind::library) all.counters.budget = &all.memory;
    if (settings.storage == storage_kind::sync)
      all.files = make_sync_storage(settings, all.store.get());
    if (settings.storage == storage_kind::discard)
      all.files = make_discard_storage(all.store.get());
    std::vector<std::unique_ptr<net::io_context>> contexts;
    std::vector<net::ip::tcp::acceptor> acceptors;
    for (unsigned i = 0; i < settings.threads; ++i) {
      contexts.push_back(std::make_unique<net::io_context>(1));
      // The first binds the port (a free one for --port 0), the others join it.
      acceptors.push_back(
          listen_shared(*contexts[i], i == 0 ? settings.port : acceptors[0].local_endpoint().port()));
    }
    std::vector<std::thread> others;
    for (unsigned i = 1; i < settings.threads; ++i)
      others.emplace_back(run_shard, std::ref(all), std::ref(*contexts[i]),
                          std::move(acceptors[i]), i);
    run_shard(all, *contexts[0], std::move(acceptors[0]), 0);
    for (std::thread& t : others) t.join();
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "upload_server: %s\n", e.what());
    return 1;
  }
}
