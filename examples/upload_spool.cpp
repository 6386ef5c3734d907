// A simulated upload server: many concurrent uploads of random sizes are spooled (memory up
// to 1 MiB, disk beyond), each published atomically under its final name, then verified.
//   upload_spool [--uploads N] [--seed S]
#include <tempfile/tempfile.hpp>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iterator>
#include <random>
#include <string>
#include <vector>

using namespace tempfile;

namespace {

/// The bytes of upload `id`: reproducible, so they can be checked after publication.
std::string upload_body(std::uint64_t seed, std::size_t id) {
  std::mt19937_64 rng(seed * 1'000'003 + id);
  // Mostly small, some well past the 1 MiB spool limit.
  const std::size_t size = rng() % 4 == 0 ? rng() % (4 << 20) : rng() % (256 << 10);
  std::string body(size, '\0');
  for (auto& c : body) c = static_cast<char>(rng());
  return body;
}

task<bool> receive(io_ring& ring, const std::filesystem::path& store, std::uint64_t seed,
                   std::size_t id) {
  const std::string body = upload_body(seed, id);
  std::mt19937_64 chunks(id);
  spooled_temporary_file upload(ring, options().max_size(1 << 20).dir(store));
  for (std::size_t at = 0; at < body.size();) {  // arrives in network-sized pieces
    const std::size_t n = std::min<std::size_t>(1 + chunks() % (64 << 10), body.size() - at);
    co_await upload.write(std::string_view(body).substr(at, n));
    at += n;
  }
  co_await upload.link(store / ("upload-" + std::to_string(id)));
  const bool spilled = upload.rolled_over();
  co_await upload.close();
  co_return spilled;
}

}  // namespace

int main(int argc, char** argv) {
  std::size_t uploads = 1000;
  std::uint64_t seed = 1;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (!std::strcmp(argv[i], "--uploads")) uploads = std::strtoull(argv[i + 1], nullptr, 10);
    if (!std::strcmp(argv[i], "--seed")) seed = std::strtoull(argv[i + 1], nullptr, 10);
  }
  io_ring ring;
  auto server = [&]() -> task<int> {
    temporary_directory store = co_await temporary_directory::create(ring, options().prefix("uploads-"));
    std::vector<task<bool>> receiving;
    for (std::size_t id = 0; id < uploads; ++id) receiving.push_back(receive(ring, store.path(), seed, id));
    const std::vector<bool> spilled = co_await when_all(std::move(receiving));

    std::size_t bad = 0, on_disk = 0;
    for (std::size_t id = 0; id < uploads; ++id) {
      std::ifstream in(store.path() / ("upload-" + std::to_string(id)), std::ios::binary);
      const std::string published{std::istreambuf_iterator<char>(in), {}};
      bad += published != upload_body(seed, id);
      on_disk += spilled[id];
    }
    std::printf("%zu uploads published (%zu spilled to disk), %zu corrupt\n", uploads, on_disk, bad);
    co_await store.cleanup();
    co_return bad == 0 ? 0 : 1;
  };
  return sync_wait(ring, server());
}
