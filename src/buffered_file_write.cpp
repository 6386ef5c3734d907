// buffered_file's writes: gathered in its buffer, written behind the writer, flushed, truncated.
#include <tempfile/buffered_file.hpp>

#include <algorithm>
#include <cerrno>
#include <system_error>

#include <tempfile/ops.hpp>

namespace tempfile {

task<void> buffered_file::write_all(std::span<const std::byte> data, std::int64_t offset) {
  set_data_beyond_buffer();
  int error = 0;
  try {
    co_await detail::write_fully(ring(), fd_.get(), data, offset);
  } catch (const std::system_error& e) {
    error = e.code().value();
  }
  if (error) fail(error, "write");
}

task<void> buffered_file::settle_oldest_write() {
  int error = 0;
  try {
    co_await behind_.settle_oldest(ring(), fd_.get());
  } catch (const std::system_error& e) {
    error = e.code().value();
  }
  if (error) fail(error, "write");
}

task<void> buffered_file::settle_write_behind() {
  while (!behind_.empty()) co_await settle_oldest_write();
}

task<void> buffered_file::write_behind() {
  // Bounded memory: one more full buffer waits for the oldest write.
  if (behind_.full()) co_await settle_oldest_write();
  set_data_beyond_buffer();
  behind_.start(ring(), fd_.get(), buffer_.storage(), buffer_.size(), buffer_.offset());
  buffer_.forget();
  submit_now();  // runs while the next buffer fills, not when the writer next waits
}

task<void> buffered_file::flush_buffer() {
  if (writing_behind()) co_await settle_write_behind();
  if (!buffer_.dirty()) co_return;
  // On failure the bytes stay buffered and dirty: a later flush writes them again.
  co_await write_all(buffer_.bytes(), buffer_.offset());
  buffer_.forget();
}

bool buffered_file::continues_pending_writes() const noexcept {
  if (buffer_.dirty()) return pos_ == buffer_.end();
  if (!behind_.empty()) return pos_ == behind_.newest_end();
  return true;
}

// A write that fits in the buffer behind this handle's pending bytes, or starts an empty
// buffer without filling it, needs no coroutine.
const detail::in_memory_path<std::size_t> buffered_file::write_path = {&write_in_buffer,
                                                                       &write_through};

task<std::size_t> buffered_file::write(std::span<const std::byte> data) {
  return detail::task_access::defer(write_path, this, data);
}

void buffered_file::write_in_buffer(void* file, std::span<const std::byte> data,
                                    std::optional<std::size_t>& written) {
  auto& self = *static_cast<buffered_file*>(file);
  self.check_writable();
  if (!self.buffer_.dirty()) {
    // The first bytes of a run, where `write_coroutine` would only start the buffer at the
    // position: nothing pending to flush or follow, no append mode to ask the end of, and
    // less than the capacity, so no write either.
    if (!self.behind_.empty() || self.mode_.append || data.empty() ||
        data.size() >= self.buffer_.capacity())
      return;
    self.buffer_.start_at(self.pos_);  // drops any read-ahead, which may cover these bytes
    self.buffer_.append(data);
    self.pos_ += static_cast<std::int64_t>(data.size());
    written = data.size();
    return;
  }
  // Continues the dirty run without filling the buffer (nor growing it): no flush, no
  // write-behind, and in append mode the position already is this handle's end.
  if (!self.continues_pending_writes() || !self.buffer_.fits_as_is(data.size())) return;
  self.buffer_.append_as_is(data);
  self.pos_ += static_cast<std::int64_t>(data.size());
  written = data.size();
}

task<std::size_t> buffered_file::write_through(void* file, std::span<const std::byte> data) {
  return static_cast<buffered_file*>(file)->write_coroutine(data);
}

task<std::size_t> buffered_file::write_coroutine(std::span<const std::byte> data) {
  check_writable();
  if (data.empty()) co_return 0;  // moves nothing, not even the end past a seek
  const std::size_t total = data.size();
  // Appending continues this handle's pending run, or starts at the file's real end.
  const bool nothing_pending = !buffer_.dirty() && behind_.empty();
  if (mode_.append && (nothing_pending || !continues_pending_writes()))
    pos_ = current_end();
  // Pending writes form one contiguous run ending where this one starts, or are flushed:
  // a write elsewhere must not race or reorder with them.
  if (!continues_pending_writes()) co_await flush_buffer();
  if (!buffer_.dirty()) buffer_.forget();  // read-ahead may cover what we are about to change
  while (!data.empty()) {
    if (buffer_.empty() && data.size() >= buffer_.capacity()) {  // nothing to coalesce: no copy
      co_await write_all(data, pos_);
      pos_ += static_cast<std::int64_t>(data.size());
      break;
    }
    if (buffer_.empty()) buffer_.start_at(pos_);
    const std::size_t n = std::min(data.size(), buffer_.capacity() - buffer_.size());
    buffer_.append(data.first(n));
    pos_ += static_cast<std::int64_t>(n);
    data = data.subspan(n);
    if (buffer_.full()) {
      if (writes_behind_)
        co_await write_behind();
      else
        co_await flush_buffer();
    }
  }
  co_return total;
}

task<std::int64_t> buffered_file::truncate(std::optional<std::int64_t> size) {
  check_writable();
  const std::int64_t new_size = size.value_or(pos_);
  if (new_size < 0) fail(EINVAL, "truncate to a negative size:");
  co_await flush_buffer();
  buffer_.forget();  // read-ahead may extend past the new end
  set_data_beyond_buffer();
  int error = 0;
  try {
    co_await ops::ftruncate(ring(), fd_.get(), static_cast<std::uint64_t>(new_size));
  } catch (const std::system_error& e) {
    error = e.code().value();
  }
  if (error) fail(error, "truncate");
  co_return new_size;
}

task<void> buffered_file::flush() {
  check_open();
  check_attached();
  co_await flush_buffer();
}

}  // namespace tempfile
