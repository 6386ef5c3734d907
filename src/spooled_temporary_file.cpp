#include <tempfile/spooled_temporary_file.hpp>

#include <cerrno>
#include <algorithm>
#include <cstring>
#include <exception>
#include <string>
#include <system_error>

namespace tempfile {
namespace {
/// Largest up-front reservation; beyond it the memory buffer grows geometrically.
constexpr std::size_t max_reservation = 16 << 20;
}  // namespace

spooled_temporary_file::spooled_temporary_file(io_ring& ring, options opts)
    : ring_(&ring), opts_(std::move(opts)), mode_(file_mode::parse(opts_.mode())) {}

void spooled_temporary_file::fail(int error, const char* operation) const {
  throw std::system_error(error, std::generic_category(),
                          std::string(operation) + " (spooled temporary file)");
}

void spooled_temporary_file::check_open() const {
  if (closed()) fail(EBADF, "I/O on closed file");
}

bool spooled_temporary_file::closed() const noexcept {
  return closed_ || (file_ && file_->closed());
}

bool spooled_temporary_file::exceeds_max(std::int64_t size) const noexcept {
  return opts_.max_size() != 0 && static_cast<std::uint64_t>(size) > opts_.max_size();
}

task<void> spooled_temporary_file::rollover() {
  check_open();
  if (file_) co_return;
  temporary_file file = co_await temporary_file::create(*ring_, opts_);
  // Either every byte reaches the file or the memory copy stays the only one.
  co_await file.write(memory_);
  co_await file.flush();
  file.seek(pos_);
  file_.emplace(std::move(file));
  std::vector<std::byte>().swap(memory_);
}

task<void> spooled_temporary_file::rollover_keeping(std::span<const std::byte> unwritten) {
  std::exception_ptr failure;
  try {
    co_await rollover();
  } catch (...) {
    failure = std::current_exception();
  }
  if (failure) {
    write_to_memory(unwritten);  // the triggering write is kept too
    std::rethrow_exception(failure);
  }
}

task<int> spooled_temporary_file::fileno() {
  co_await rollover();
  co_return file_->fileno();
}

task<void> spooled_temporary_file::link(std::filesystem::path target) {
  check_open();
  if (file_) {
    co_await file_->link(target);
    co_return;
  }
  const std::filesystem::path absolute = std::filesystem::absolute(target);
  temporary_file staging = co_await temporary_file::create(
      *ring_, options(opts_).mode("w+b").buffering(0).dir(absolute.parent_path()));
  co_await staging.write(memory_);
  co_await staging.link(absolute);
  co_await staging.close();
}

void spooled_temporary_file::write_to_memory(std::span<const std::byte> data) {
  if (memory_.capacity() == 0 && opts_.max_size() != 0) {
    // Room for everything that may stay in memory, so appends never copy on growth. Pages
    // not yet written are not touched, so a small file does not pay for a large max_size.
    memory_.reserve(std::min(opts_.max_size(), max_reservation));
  }
  const auto pos = static_cast<std::size_t>(pos_);
  if (pos > memory_.size()) memory_.resize(pos);  // a gap after seeking past the end reads as zeros
  const std::size_t overwrite = std::min(data.size(), memory_.size() - pos);
  if (overwrite != 0) std::memcpy(memory_.data() + pos, data.data(), overwrite);
  memory_.insert(memory_.end(), data.begin() + static_cast<std::ptrdiff_t>(overwrite), data.end());
  pos_ += static_cast<std::int64_t>(data.size());
}

task<std::size_t> spooled_temporary_file::read(std::span<std::byte> buffer) {
  check_open();
  if (file_) co_return co_await file_->read(buffer);
  if (!mode_.readable) fail(EBADF, "read from file opened write-only");
  const auto size = static_cast<std::int64_t>(memory_.size());
  const std::size_t n =
      pos_ >= size ? 0 : std::min(buffer.size(), static_cast<std::size_t>(size - pos_));
  if (n != 0) std::memcpy(buffer.data(), memory_.data() + pos_, n);  // data() may be null
  pos_ += static_cast<std::int64_t>(n);
  co_return n;
}

task<std::size_t> spooled_temporary_file::store(std::span<const std::byte> data,
                                                bool check_position) {
  check_open();
  if (file_) co_return co_await file_->write(data);
  if (!mode_.writable) fail(EBADF, "write to file opened read-only");
  if (data.empty()) {  // moves nothing, not even the end past a seek
    if (check_position && in_memory_past_max()) co_await rollover();
    co_return 0;
  }
  if (mode_.append) pos_ = static_cast<std::int64_t>(memory_.size());
  if (exceeds_max(pos_ + static_cast<std::int64_t>(data.size()))) {
    co_await rollover_keeping(data);
    co_return co_await file_->write(data);
  }
  write_to_memory(data);
  co_return data.size();
}

std::int64_t spooled_temporary_file::seek(std::int64_t offset, int whence) {
  check_open();
  if (file_) return file_->seek(offset, whence);
  std::int64_t base;
  switch (whence) {
    case SEEK_SET: base = 0; break;
    case SEEK_CUR: base = pos_; break;
    case SEEK_END: base = static_cast<std::int64_t>(memory_.size()); break;
    default: fail(EINVAL, "seek with invalid whence");
  }
  std::int64_t position;
  if (__builtin_add_overflow(base, offset, &position))
    fail(EOVERFLOW, "seek past the largest file offset");
  if (position < 0) fail(EINVAL, "seek to a negative position");
  pos_ = position;
  return pos_;
}

std::int64_t spooled_temporary_file::tell() const {
  check_open();
  return file_ ? file_->tell() : pos_;
}

task<std::int64_t> spooled_temporary_file::truncate(std::optional<std::int64_t> size) {
  check_open();
  if (file_) co_return co_await file_->truncate(size);
  if (!mode_.writable) fail(EBADF, "truncate a file opened read-only");
  const std::int64_t new_size = size.value_or(pos_);
  if (new_size < 0) fail(EINVAL, "truncate to a negative size");
  if (exceeds_max(new_size)) {
    co_await rollover();
    co_return co_await file_->truncate(new_size);
  }
  memory_.resize(static_cast<std::size_t>(new_size));
  co_return new_size;
}

task<void> spooled_temporary_file::flush() {
  check_open();
  if (file_) co_await file_->flush();
}

task<void> spooled_temporary_file::close() {
  if (closed_) co_return;
  if (file_) co_await file_->close();
  closed_ = true;
  std::vector<std::byte>().swap(memory_);
}

bool spooled_temporary_file::isatty() const {
  check_open();
  return file_ ? file_->isatty() : false;
}

bool spooled_temporary_file::readable() const {
  check_open();
  return mode_.readable;
}

bool spooled_temporary_file::writable() const {
  check_open();
  return mode_.writable;
}

bool spooled_temporary_file::seekable() const {
  check_open();
  return true;
}

}  // namespace tempfile
