#pragma once
/// \file
/// `unique_fd`: an owning file descriptor.

#include <unistd.h>

#include <utility>

namespace tempfile {

/// Owns one file descriptor and closes it on destruction (synchronously: a destructor
/// cannot await). Move-only; a moved-from `unique_fd` owns nothing.
class unique_fd {
 public:
  unique_fd() noexcept = default;
  /// Takes ownership of `fd` (-1: none).
  explicit unique_fd(int fd) noexcept : fd_(fd) {}
  /// Takes `other`'s descriptor; `other` owns none.
  unique_fd(unique_fd&& other) noexcept : fd_(other.release()) {}
  /// Closes the owned descriptor, then takes `other`'s.
  unique_fd& operator=(unique_fd&& other) noexcept {
    if (this != &other) reset(other.release());
    return *this;
  }
  unique_fd(const unique_fd&) = delete;
  unique_fd& operator=(const unique_fd&) = delete;
  ~unique_fd() { reset(); }

  /// The descriptor, still owned (-1 if none).
  int get() const noexcept { return fd_; }
  /// Gives up ownership without closing; returns the descriptor (-1 if none).
  int release() noexcept { return std::exchange(fd_, -1); }
  /// Closes the owned descriptor (if any) and takes `fd`.
  void reset(int fd = -1) noexcept {
    if (fd_ >= 0) ::close(fd_);
    fd_ = fd;
  }
  /// True if a descriptor is owned.
  explicit operator bool() const noexcept { return fd_ >= 0; }

 private:
  int fd_ = -1;
};

}  // namespace tempfile
