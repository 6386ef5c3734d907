// How a buffered_file ends: close() as one linked chain, or without its ring, or destroyed.
#include <tempfile/buffered_file.hpp>

#include <unistd.h>

#include <cerrno>
#include <system_error>

#include <tempfile/ops.hpp>

namespace tempfile {

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

void buffered_file::write_back_now() noexcept {
  // No ring to await (a destructor, or the ring going away): synchronous, best effort, so
  // the file keeps its data.
  behind_.write_back_now(fd_.get());
  if (buffer_.dirty()) detail::pwrite_now(fd_.get(), buffer_.bytes(), buffer_.offset());
}

task<void> buffered_file::close() {
  if (closed_) co_return;
  if (!attached_ring()) {
    close_detached();
    co_return;
  }
  if (writing_behind()) co_await settle_write_behind();
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

}  // namespace tempfile
