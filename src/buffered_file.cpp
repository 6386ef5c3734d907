#include <tempfile/buffered_file.hpp>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <string>
#include <system_error>
#include <utility>

#include <tempfile/ops.hpp>

namespace tempfile {
namespace {

std::size_t buffer_capacity(long buffering) {
  if (buffering == 0) return 0;
  if (buffering > 1) return static_cast<std::size_t>(buffering);
  return default_buffer_size;  // -1 (and 1, line buffering, which bytes files lack)
}

/// The default buffer pipelines its writes; an explicit size holds at most n bytes.
bool writes_behind(long buffering) { return buffering < 0 || buffering == 1; }

}  // namespace

std::size_t buffered_file::buffer_memory(long buffering) noexcept {
  const std::size_t buffers =
      writes_behind(buffering) ? 1 + detail::background_writes::max_in_flight : 1;
  return buffers * buffer_capacity(buffering);
}

buffered_file::buffered_file(io_ring& ring, unique_fd fd, file_mode mode, long buffering,
                             std::filesystem::path description)
    : ring_user(&ring, &finish_without_ring),
      fd_(std::move(fd)),
      mode_(std::move(mode)),
      description_(std::move(description)),
      writes_behind_(writes_behind(buffering)),
      buffer_(buffer_capacity(buffering)),
      closed_(false) {}

buffered_file::buffered_file(buffered_file&& other) noexcept
    : ring_user(nullptr, &finish_without_ring) {
  swap(other);
}

buffered_file& buffered_file::operator=(buffered_file&& other) noexcept {
  buffered_file(std::move(other)).swap(*this);  // the temporary takes our old file down
  return *this;
}

void buffered_file::swap(buffered_file& other) noexcept {
  using std::swap;
  swap_rings(other);
  swap(fd_, other.fd_);
  swap(mode_, other.mode_);
  swap(description_, other.description_);
  swap(removal_, other.removal_);
  swap(removal_path_, other.removal_path_);
  swap(writes_behind_, other.writes_behind_);
  swap(buffer_, other.buffer_);
  swap(behind_, other.behind_);
  swap(pos_, other.pos_);
  swap(closed_, other.closed_);
}

buffered_file::~buffered_file() {
  behind_.cancel();  // each background write waited out or cancelled before anything goes
  if (!closed_) {
    if (removal_ == removal::kept) write_back_now();
    fd_.reset();
  }
  // on_close: destroyed unclosed; on_destroy: whether closed or not.
  if (removal_ == removal::on_close || removal_ == removal::on_destroy)
    ::unlink(removal_path_.c_str());
}

void buffered_file::finish_without_ring(ring_user& self) noexcept {
  auto& file = static_cast<buffered_file&>(self);
  file.behind_.cancel();  // while the ring still works
  if (file.closed_) return;
  file.write_back_now();
  file.buffer_.forget();
}

void buffered_file::check_attached() const {
  if (!attached_ring()) fail(EBADF, "I/O on a file whose io_ring was destroyed:");
}

io_ring& buffered_file::ring() const {
  check_attached();
  return *attached_ring();
}

void buffered_file::write_back_now() noexcept {
  // No ring to await (a destructor, or the ring going away): synchronous, best effort, so
  // the file keeps its data.
  behind_.write_back_now(fd_.get());
  if (buffer_.dirty()) detail::pwrite_now(fd_.get(), buffer_.bytes(), buffer_.offset());
}

void buffered_file::set_removal(removal when, std::filesystem::path path) {
  removal_ = when;
  removal_path_ = std::move(path);
}

void buffered_file::fail(int error, const char* operation) const {
  throw std::system_error(error, std::generic_category(),
                          std::string(operation) + " " + description_.string());
}

void buffered_file::check_open() const {
  if (closed_) fail(EBADF, "I/O on closed file");
}

void buffered_file::check_readable() const {
  check_open();
  check_attached();
  if (!mode_.readable) fail(EBADF, "read from file opened write-only:");
}

void buffered_file::check_writable() const {
  check_open();
  check_attached();
  if (!mode_.writable) fail(EBADF, "write to file opened read-only:");
}

task<void> buffered_file::write_all(std::span<const std::byte> data, std::int64_t offset) {
  int error = 0;
  try {
    co_await detail::write_fully(ring(), fd_.get(), data, offset);
  } catch (const std::system_error& e) {
    error = e.code().value();
  }
  if (error) fail(error, "write");
}

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
  behind_.start(ring(), fd_.get(), buffer_.storage(), buffer_.size(), buffer_.offset());
  buffer_.forget();
  submit_now();  // runs while the next buffer fills, not when the writer next waits
}

task<void> buffered_file::flush_buffer() {
  co_await settle_write_behind();
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

// A write that fits in the buffer behind this handle's pending bytes needs no coroutine.
const detail::in_memory_path<std::size_t> buffered_file::write_path = {&write_in_buffer,
                                                                       &write_through};

task<std::size_t> buffered_file::write(std::span<const std::byte> data) {
  return detail::task_access::defer(write_path, this, data);
}

void buffered_file::write_in_buffer(void* file, std::span<const std::byte> data,
                                    std::optional<std::size_t>& written) {
  auto& self = *static_cast<buffered_file*>(file);
  self.check_writable();
  // Continues the dirty run without filling the buffer (nor growing it): no flush, no
  // write-behind, and in append mode the position already is this handle's end.
  if (!self.buffer_.dirty() || !self.continues_pending_writes() ||
      !self.buffer_.fits_as_is(data.size()))
    return;
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

std::int64_t buffered_file::seek(std::int64_t offset, int whence) {
  check_open();
  std::int64_t base;
  switch (whence) {
    case SEEK_SET: base = 0; break;
    case SEEK_CUR: base = pos_; break;
    case SEEK_END: base = current_end(); break;
    default: fail(EINVAL, "seek with invalid whence:");
  }
  std::int64_t position;
  if (__builtin_add_overflow(base, offset, &position))
    fail(EOVERFLOW, "seek past the largest file offset:");
  if (position < 0) fail(EINVAL, "seek to a negative position:");
  pos_ = position;
  return pos_;
}

std::int64_t buffered_file::current_end() const {
  // The kernel's size sees what other handles and processes wrote; this handle's own
  // unwritten bytes may reach further.
  struct stat st;
  if (::fstat(fd_.get(), &st) != 0) fail(errno, "fstat");
  std::int64_t end = st.st_size;
  if (buffer_.dirty()) end = std::max(end, buffer_.end());
  return behind_.furthest_end(end);
}

std::int64_t buffered_file::tell() const {
  check_open();
  return pos_;
}

task<std::int64_t> buffered_file::truncate(std::optional<std::int64_t> size) {
  check_writable();
  const std::int64_t new_size = size.value_or(pos_);
  if (new_size < 0) fail(EINVAL, "truncate to a negative size:");
  co_await flush_buffer();
  buffer_.forget();  // read-ahead may extend past the new end
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

task<void> buffered_file::close() {
  if (closed_) co_return;
  if (!attached_ring()) {
    close_detached();
    co_return;
  }
  co_await settle_write_behind();
  // The last bytes, the close and the removal of the name go to the kernel as one linked
  // chain: one round trip, and a failed or short write cancels the rest, so the file stays
  // open with its data.
  const char* remove = removal_ == removal::on_close ? removal_path_.c_str() : nullptr;
  detail::close_chain::results done{};
  for (;;) {
    std::span<const std::byte> rest;
    std::int64_t offset = buffer_.offset();
    if (buffer_.dirty()) rest = buffer_.bytes();
    if (rest.size() > detail::max_transfer) {  // one write carries at most this: head first
      const std::size_t head = rest.size() - detail::max_transfer;
      co_await write_all(rest.first(head), offset);
      rest = rest.subspan(head);
      offset += static_cast<std::int64_t>(head);
    }
    done = co_await detail::close_chain(ring(), fd_, rest, static_cast<std::uint64_t>(offset),
                                        remove);
    if (done.closed != -ECANCELED) break;
    if (done.written < 0) fail(-done.written, "write");
    // Short: finish the write, then close without the buffer.
    co_await write_all(rest.subspan(static_cast<std::size_t>(done.written)), offset + done.written);
    buffer_.forget();
  }
  closed_ = true;
  buffer_.release();
  behind_.clear();
  // A failed close leaves the name to the destructor.
  if (done.closed < 0) fail(-done.closed, "close");
  if (!remove) co_return;
  removal_ = removal::kept;  // removed now
  // A name someone else already removed or renamed is not an error (as in Python 3.12).
  if (done.removed < 0 && done.removed != -ENOENT) fail(-done.removed, "delete");
}

void buffered_file::close_detached() {
  // The ring went away first and wrote the buffer back: finish without it.
  closed_ = true;
  buffer_.release();
  behind_.clear();
  if (::close(fd_.release()) != 0) fail(errno, "close");
  if (removal_ != removal::on_close) return;
  removal_ = removal::kept;  // removed now, whatever the outcome
  if (::unlink(removal_path_.c_str()) != 0 && errno != ENOENT) fail(errno, "delete");
}

bool buffered_file::isatty() const {
  check_open();
  return ::isatty(fd_.get()) == 1;
}

bool buffered_file::readable() const {
  check_open();
  return mode_.readable;
}

bool buffered_file::writable() const {
  check_open();
  return mode_.writable;
}

bool buffered_file::seekable() const {
  check_open();
  return true;
}

int buffered_file::fileno() const {
  check_open();
  return fd_.get();
}

}  // namespace tempfile
