// Uses the installed library through its umbrella header: create, write, read back.
#include <tempfile/tempfile.hpp>

#include <cstdio>

tempfile::task<std::string> round_trip(tempfile::io_ring& ring) {
  auto file = co_await tempfile::temporary_file::create(ring);
  co_await file.write("installed and working\n");
  file.seek(0);
  co_return co_await file.readline();
}

int main() {
  tempfile::io_ring ring;
  const std::string line = tempfile::sync_wait(ring, round_trip(ring));
  std::fputs(line.c_str(), stdout);
  return line == "installed and working\n" ? 0 : 1;
}
