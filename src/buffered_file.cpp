// buffered_file's core: construction and moves, the checks its calls make, position, queries.
#include <tempfile/buffered_file.hpp>

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <string>
#include <system_error>
#include <utility>

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
                             std::filesystem::path description, described how)
    : ring_user(&ring, &finish_without_ring),
      fd_(std::move(fd)),
      mode_(std::move(mode)),
      description_(std::move(description)),
      described_(how),
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
  swap(described_, other.described_);
  swap(removal_, other.removal_);
  swap(removal_path_, other.removal_path_);
  swap(writes_behind_, other.writes_behind_);
  swap(data_only_buffered_, other.data_only_buffered_);
  swap(buffer_, other.buffer_);
  swap(behind_, other.behind_);
  swap(pos_, other.pos_);
  swap(closed_, other.closed_);
}

void buffered_file::check_attached() const {
  if (!attached_ring()) fail(EBADF, "I/O on a file whose io_ring was destroyed:");
}

io_ring& buffered_file::ring() const {
  check_attached();
  return *attached_ring();
}

void buffered_file::set_removal(removal when, std::filesystem::path path) {
  removal_ = when;
  removal_path_ = std::move(path);
}

void buffered_file::fail(int error, const char* operation) const {
  // An unnamed file's text is built here, not per file: most files never fail.
  const std::filesystem::path& named =
      described_ == described::by_directory ? description_ / "(unnamed temporary file)"
                                            : description_;
  throw std::system_error(error, std::generic_category(),
                          std::string(operation) + " " + named.string());
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

int buffered_file::descriptor() const {
  check_open();
  return fd_.get();
}

int buffered_file::fileno() const {
  const int fd = descriptor();
  set_data_beyond_buffer();  // the caller may write through it
  return fd;
}

}  // namespace tempfile
