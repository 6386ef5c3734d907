// A simulated upload server: many concurrent uploads of random sizes are spooled (memory up
// to 1 MiB, disk beyond), each published atomically under its final name, then verified.
//   upload_spool [--uploads N] [--seed S]
#include <tempfile/tempfile.hpp>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include "command_line.hpp"

using namespace tempfile;

namespace {

/// The bytes of one upload, produced piece by piece from a seed: the same pieces can be
/// derived again to check what was published, and no body is ever held whole in memory.
class upload_body {
 public:
  upload_body(std::uint64_t seed, std::size_t id) : rng_(seed * 1'000'003 + id) {
    // Mostly small, some well past the 1 MiB spool limit.
    left_ = rng_() % 4 == 0 ? rng_() % (4 << 20) : rng_() % (256 << 10);
  }
  bool empty() const noexcept { return left_ == 0; }
  /// The next `n` bytes (fewer at the end).
  std::string next(std::size_t n) {
    std::string piece(std::min(n, left_), '\0');
    for (auto& c : piece) c = static_cast<char>(rng_());
    left_ -= piece.size();
    return piece;
  }

 private:
  std::mt19937_64 rng_;
  std::size_t left_;
};

std::filesystem::path published_name(const std::filesystem::path& store, std::size_t id) {
  return store / ("upload-" + std::to_string(id));
}

task<bool> receive(io_ring& ring, std::filesystem::path store, std::uint64_t seed,
                   std::size_t id) {
  upload_body body(seed, id);
  std::mt19937_64 chunks(id);
  spooled_temporary_file upload(ring, options().max_size(1 << 20).dir(store));
  while (!body.empty())  // arrives in network-sized pieces
    co_await upload.write(body.next(1 + chunks() % (64 << 10)));
  co_await upload.link(published_name(store, id));
  const bool spilled = upload.rolled_over();
  co_await upload.close();
  co_return spilled;
}

/// Whether the published file holds exactly upload `id`'s bytes.
bool intact(const std::filesystem::path& store, std::uint64_t seed, std::size_t id) {
  std::ifstream in(published_name(store, id), std::ios::binary);
  upload_body expected(seed, id);
  std::string piece(64 << 10, '\0');
  while (in.read(piece.data(), static_cast<std::streamsize>(piece.size())) || in.gcount() > 0) {
    piece.resize(static_cast<std::size_t>(in.gcount()));
    if (piece != expected.next(piece.size())) return false;
  }
  return in.eof() && expected.empty();
}

}  // namespace

int main(int argc, char** argv) {
  std::size_t uploads = 1000;
  std::uint64_t seed = 1;
  return example::run(
      argc, argv,
      "usage: upload_spool [--uploads N] [--seed S]\n"
      "Receives N concurrent uploads of random sizes into spooled files (memory up to 1 MiB,\n"
      "disk beyond), publishes each atomically in a temporary directory, and verifies them.\n"
      "  --uploads N  how many uploads (default 1000)\n"
      "  --seed S     seed of the upload sizes and bytes (default 1)\n",
      {{"--uploads", example::number(uploads)}, {"--seed", example::number(seed)}},
      [&] {
        io_ring ring;
        auto server = [&]() -> task<int> {
          temporary_directory store =
              co_await temporary_directory::create(ring, options().prefix("uploads-"));
          std::vector<task<bool>> receiving;
          for (std::size_t id = 0; id < uploads; ++id)
            receiving.push_back(receive(ring, store.path(), seed, id));
          const std::vector<bool> spilled = co_await when_all(std::move(receiving));

          const auto on_disk = std::count(spilled.begin(), spilled.end(), true);
          std::size_t corrupt = 0;
          for (std::size_t id = 0; id < uploads; ++id) corrupt += !intact(store.path(), seed, id);
          std::printf("%zu uploads published (%td spilled to disk), %zu corrupt\n", uploads,
                      on_disk, corrupt);
          co_await store.cleanup();
          co_return corrupt == 0 ? 0 : 1;
        };
        return sync_wait(ring, server());
      });
}
