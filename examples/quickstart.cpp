// Spools a greeting and publishes it as greeting.txt in the temp directory, then writes and
// reads back a named scratch file. Run it again: it publishes the greeting afresh.
#include <tempfile/tempfile.hpp>

#include <cstdint>
#include <cstdio>
#include <string_view>

using namespace tempfile;

task<void> demo(io_ring& ring, std::filesystem::path target) {
  // In memory up to 1 MiB; past that, one asynchronous flush to a file on disk.
  spooled_temporary_file upload(ring, options().max_size(1 << 20));
  co_await upload.write("hello, ");
  co_await upload.write("world\n");
  std::filesystem::remove(target);  // link never replaces a file
  co_await upload.link(target);     // appears whole, or not at all

  auto scratch = co_await named_temporary_file::create(ring, options().suffix(".log"));
  co_await scratch.write("scratch data\n");
  scratch.seek(0);
  const std::string line = co_await scratch.readline();
  std::printf("%s holds: %s", scratch.name().c_str(), line.c_str());
  co_await scratch.close();  // deleted here
}

int main(int argc, char** argv) {
  if (argc > 1 && std::string_view(argv[1]) == "--help") {
    std::puts("usage: quickstart\nWrites greeting.txt in the temp directory, replacing it.");
    return 0;
  }
  if (argc > 1) {
    std::fprintf(stderr, "quickstart: takes no arguments (see --help)\n");
    return 2;
  }
  const auto target = gettempdir() / "greeting.txt";
  io_ring ring;
  sync_wait(ring, demo(ring, target));
  std::printf("%s: %ju bytes\n", target.c_str(), std::uintmax_t{std::filesystem::file_size(target)});
}
