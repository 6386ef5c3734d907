// The README's example: spool an upload, publish it atomically, use a named scratch file.
#include <tempfile/tempfile.hpp>

#include <cstdio>

using namespace tempfile;

task<void> demo(io_ring& ring, std::filesystem::path target) {
  // In memory up to 1 MiB; past that, one asynchronous flush to a file on disk.
  spooled_temporary_file upload(ring, options().max_size(1 << 20));
  co_await upload.write("hello, ");
  co_await upload.write("world\n");
  co_await upload.link(target);  // appears whole, or not at all

  auto scratch = co_await named_temporary_file::create(ring, options().suffix(".log"));
  co_await scratch.write("scratch data\n");
  scratch.seek(0);
  const std::string line = co_await scratch.readline();
  std::printf("%s holds: %s", scratch.name().c_str(), line.c_str());
  co_await scratch.close();  // deleted here
}

int main() {
  io_ring ring;
  const auto target = gettempdir() / "tempfile-quickstart.txt";
  std::filesystem::remove(target);
  sync_wait(ring, demo(ring, target));
  std::printf("%s: %ju bytes\n", target.c_str(), std::uintmax_t{std::filesystem::file_size(target)});
  std::filesystem::remove(target);
}
