#include <tempfile/spooled_temporary_file.hpp>

#include <tempfile/spool_budget.hpp>

#include <cerrno>
#include <exception>
#include <string>
#include <system_error>

namespace tempfile {

spooled_temporary_file::spooled_temporary_file(io_ring& ring, options opts)
    : ring_user(&ring, nullptr),  // memory needs no writing back when the ring goes
      opts_(std::move(opts)),
      mode_(file_mode::parse(opts_.mode())),
      memory_(opts_.memory_budget()) {}

spooled_temporary_file::spooled_temporary_file(spooled_temporary_file&& other) noexcept
    : ring_user(nullptr, nullptr), memory_(nullptr), closed_(true) {
  swap(other);
}

spooled_temporary_file& spooled_temporary_file::operator=(
    spooled_temporary_file&& other) noexcept {
  spooled_temporary_file(std::move(other)).swap(*this);  // the temporary takes ours down
  return *this;
}

void spooled_temporary_file::swap(spooled_temporary_file& other) noexcept {
  using std::swap;
  swap_rings(other);
  swap(opts_, other.opts_);
  swap(mode_, other.mode_);
  swap(memory_, other.memory_);
  swap(pos_, other.pos_);
  swap(file_buffers_, other.file_buffers_);
  swap(file_, other.file_);
  swap(closed_, other.closed_);
}

io_ring& spooled_temporary_file::ring() const {
  if (!attached_ring()) fail(EBADF, "I/O on a file whose io_ring was destroyed");
  return *attached_ring();
}

void spooled_temporary_file::fail(int error, const char* operation) const {
  throw std::system_error(error, std::generic_category(),
                          std::string(operation) + " (spooled temporary file)");
}

void spooled_temporary_file::check_open() const {
  if (closed()) fail(EBADF, "I/O on closed file");
  ring();
}

bool spooled_temporary_file::closed() const noexcept {
  return closed_ || (file_ && file_->closed());
}

task<void> spooled_temporary_file::rollover() {
  check_open();
  if (file_) co_return;
  // Either every byte reaches the file or the memory copy stays the only one.
  detail::budget_charge buffers;
  const long buffering = buffering_within_budget(buffers);
  temporary_file file =
      co_await temporary_file::create(ring(), options(opts_).buffering(buffering));
  const auto pieces = memory_.pieces();
  for (const std::span<const std::byte> piece : pieces) co_await file.write(piece);
  co_await file.flush();
  file.seek(pos_);
  file_.emplace(std::move(file));
  file_buffers_ = std::move(buffers);
  memory_.clear();
}

// Tried in turn: what was asked for, then one block; else no buffer at all.
long spooled_temporary_file::buffering_within_budget(detail::budget_charge& charge) const {
  spool_budget* budget = opts_.memory_budget();
  if (!budget) return opts_.buffering();
  for (const long buffering : {opts_.buffering(), long{detail::spool_memory::block_size}}) {
    charge = detail::budget_charge(*budget, buffered_file::buffer_memory(buffering));
    if (charge) return buffering;
  }
  return 0;
}

void spooled_temporary_file::count_budget_rollover() const noexcept {
  if (spool_budget* budget = opts_.memory_budget()) budget->count_rollover();
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
  return publish(std::move(target), false);
}

task<void> spooled_temporary_file::replace(std::filesystem::path target) {
  return publish(std::move(target), true);
}

task<void> spooled_temporary_file::publish(std::filesystem::path target, bool replacing) {
  check_open();
  temporary_file* file = file_ ? &*file_ : nullptr;
  std::optional<temporary_file> staging;
  if (!file) {  // in memory: a file of its own in the target's directory, then gone
    const std::filesystem::path absolute = std::filesystem::absolute(target);
    staging.emplace(co_await temporary_file::create(
        ring(), options(opts_).mode("w+b").buffering(0).dir(absolute.parent_path())));
    const auto pieces = memory_.pieces();
    for (const std::span<const std::byte> piece : pieces) co_await staging->write(piece);
    file = &*staging;
  }
  if (replacing)
    co_await file->replace(target);
  else
    co_await file->link(target);
  if (staging) co_await staging->close();
}

void spooled_temporary_file::write_to_memory(std::span<const std::byte> data) {
  const auto pos = static_cast<std::size_t>(pos_);
  memory_.reserve(pos + data.size());
  memory_.write(pos, data);  // a gap after seeking past the end reads as zeros
  pos_ += static_cast<std::int64_t>(data.size());
}

task<std::size_t> spooled_temporary_file::read(std::span<std::byte> buffer) {
  check_open();
  if (file_) co_return co_await file_->read(buffer);
  if (!mode_.readable) fail(EBADF, "read from file opened write-only");
  const std::size_t n = memory_.read(static_cast<std::size_t>(pos_), buffer);
  pos_ += static_cast<std::int64_t>(n);
  co_return n;
}

const detail::in_memory_path<std::size_t> spooled_temporary_file::write_path = {
    &write_in_memory, &write_through};

void spooled_temporary_file::write_in_memory(void* spool, std::span<const std::byte> data,
                                             std::optional<std::size_t>& written) {
  auto& self = *static_cast<spooled_temporary_file*>(spool);
  self.check_open();
  // Rolled over, read-only (EBADF) and empty writes (a position check) take the coroutine.
  if (self.file_ || !self.mode_.writable || data.empty()) return;
  if (self.store_in_memory(data)) written = data.size();
}

task<std::size_t> spooled_temporary_file::write_through(void* spool,
                                                        std::span<const std::byte> data) {
  return static_cast<spooled_temporary_file*>(spool)->store(data, true);
}

bool spooled_temporary_file::store_in_memory(std::span<const std::byte> data) {
  if (mode_.append) pos_ = static_cast<std::int64_t>(memory_.size());
  const std::size_t end = static_cast<std::size_t>(pos_) + data.size();
  if (exceeds_max(static_cast<std::int64_t>(end)) || !memory_.try_reserve(end)) return false;
  write_to_memory(data);
  return true;
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
  if (store_in_memory(data)) co_return data.size();
  // Past max_size, or the memory budget refused it: the data goes to a file.
  const bool past_max = exceeds_max(pos_ + static_cast<std::int64_t>(data.size()));
  co_await rollover_keeping(data);
  if (!past_max) count_budget_rollover();
  co_return co_await file_->write(data);
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
  const bool past_max = exceeds_max(new_size);
  if (past_max || !memory_.try_reserve(static_cast<std::size_t>(new_size))) {
    co_await rollover();
    if (!past_max) count_budget_rollover();
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
  memory_.clear();
  file_buffers_.release();
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
