// Must not compile: the task create() returns is used as if it were the file.
#include <tempfile/temporary_file.hpp>

void forgot_co_await(tempfile::io_ring& ring) {
  auto file = tempfile::temporary_file::create(ring);
  file.write("data");
}
