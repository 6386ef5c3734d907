// buffered_file's reads: through its buffer's read-ahead, or straight into the caller's span.
#include <tempfile/buffered_file.hpp>

#include <system_error>

#include <tempfile/ops.hpp>

namespace tempfile {

task<std::size_t> buffered_file::read_at(std::span<std::byte> buffer, std::int64_t offset) {
  std::size_t done = 0;
  int error = 0;
  try {
    while (done < buffer.size()) {
      const std::size_t n = co_await ops::read(ring(), fd_.get(), buffer.subspan(done),
                                               static_cast<std::uint64_t>(offset) + done);
      if (n == 0) break;  // end of file
      done += n;
    }
  } catch (const std::system_error& e) {
    error = e.code().value();
  }
  if (error) fail(error, "read");
  co_return done;
}

task<std::size_t> buffered_file::read(std::span<std::byte> out) {
  check_readable();
  co_await flush_buffer();
  std::size_t done = 0;
  while (done < out.size()) {
    if (buffer_.holds(pos_)) {
      const std::size_t n = buffer_.copy_out(pos_, out.subspan(done));
      done += n;
      pos_ += static_cast<std::int64_t>(n);
      continue;
    }
    const auto rest = out.subspan(done);
    if (rest.size() >= buffer_.capacity()) {  // unbuffered, or too large to gain from read-ahead
      const std::size_t n = co_await read_at(rest, pos_);
      done += n;
      pos_ += static_cast<std::int64_t>(n);
      break;
    }
    buffer_.read_ahead_done(co_await read_at(buffer_.read_ahead_at(pos_), pos_));
    if (buffer_.empty()) break;
  }
  co_return done;
}

}  // namespace tempfile
