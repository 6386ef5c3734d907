#pragma once
// Names of the io_uring opcodes the library issues, for error messages.

#include <liburing.h>

namespace tempfile::detail {

inline const char* op_name(unsigned opcode) noexcept {
  switch (opcode) {
    case IORING_OP_NOP: return "IORING_OP_NOP";
    case IORING_OP_OPENAT: return "IORING_OP_OPENAT";
    case IORING_OP_READ: return "IORING_OP_READ";
    case IORING_OP_WRITE: return "IORING_OP_WRITE";
    case IORING_OP_CLOSE: return "IORING_OP_CLOSE";
    case IORING_OP_FSYNC: return "IORING_OP_FSYNC";
    case IORING_OP_STATX: return "IORING_OP_STATX";
    case IORING_OP_UNLINKAT: return "IORING_OP_UNLINKAT";
    case IORING_OP_MKDIRAT: return "IORING_OP_MKDIRAT";
    case IORING_OP_LINKAT: return "IORING_OP_LINKAT";
    case IORING_OP_RENAMEAT: return "IORING_OP_RENAMEAT";
    case IORING_OP_ASYNC_CANCEL: return "IORING_OP_ASYNC_CANCEL";
    default: return "an io_uring opcode";
  }
}

}  // namespace tempfile::detail
