#include <tempfile/ops.hpp>

#include <unistd.h>
#if __has_include(<valgrind/memcheck.h>)
#include <valgrind/memcheck.h>  // client requests cost a few instructions outside Valgrind
#endif

#include <cerrno>
#include <string>
#include <system_error>

namespace tempfile::detail {

void throw_op_error(int err, const op_context& context) {
  std::string what = context.syscall;
  if (context.path) {
    what += ' ';
    what += context.path;
    if (context.second_path) {
      what += " -> ";
      what += context.second_path;
    }
  } else if (context.fd >= 0) {
    what += " fd " + std::to_string(context.fd);
  }
  throw std::system_error(err, std::generic_category(), what);
}

statx_op::statx_op(io_ring& ring, int dirfd, const char* path, int flags, unsigned mask) noexcept
    : ring_op(ring, &prepare_into), context_{"statx", dirfd, path}, flags_(flags), mask_(mask) {}

void statx_op::prepare_into(ring_op& self, io_uring_sqe& sqe) noexcept {
  auto& op = static_cast<statx_op&>(self);
  io_uring_prep_statx(&sqe, op.context_.fd, op.context_.path, op.flags_, op.mask_, &op.result_);
}

struct statx statx_op::await_resume() {
  if (const int res = take_result(); res < 0) throw_op_error(-res, context_);
  written_by_kernel(&result_, sizeof result_);
  return result_;
}

void written_by_kernel(const void* data, std::size_t size) noexcept {
#ifdef VALGRIND_MAKE_MEM_DEFINED
  VALGRIND_MAKE_MEM_DEFINED(data, size);
#else
  (void)data;
  (void)size;
#endif
}

ftruncate_op::ftruncate_op(io_ring& ring, int fd, std::uint64_t length) noexcept
    : ring_op(ring, &prepare_into),
      fd_(fd),
      length_(length),
      native_(ring.supports(ops::ftruncate_opcode)) {}

void ftruncate_op::prepare_into(ring_op& self, io_uring_sqe& sqe) noexcept {
  auto& op = static_cast<ftruncate_op&>(self);
  if (op.native_)
    io_uring_prep_rw(static_cast<int>(ops::ftruncate_opcode), &sqe, op.fd_, nullptr, 0, op.length_);
  else
    io_uring_prep_nop(&sqe);
}

int ftruncate_op::await_resume() {
  int res = take_result();
  if (!native_ && res == 0)
    res = ::ftruncate(fd_, static_cast<off_t>(length_)) == 0 ? 0 : -errno;
  if (res < 0) throw_op_error(-res, {"ftruncate", fd_});
  return res;
}

}  // namespace tempfile::detail
