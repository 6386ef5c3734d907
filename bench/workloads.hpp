#pragma once
// The unit operations both benchmark binaries time: each library workload beside the
// synchronous or raw-liburing code it is compared with.

#include <cstddef>
#include <span>

#include <tempfile/io_ring.hpp>
#include <tempfile/task.hpp>

namespace tempfile_bench {

/// One awaited NOP.
tempfile::task<void> library_nop(tempfile::io_ring& ring);
/// `batch` tasks of one NOP each, awaited together through when_all.
tempfile::task<void> library_nop_batch(tempfile::io_ring& ring, unsigned batch);

/// openat(dirfd, dir, O_TMPFILE), write `payload`, optionally fsync, close: all through ops.
tempfile::task<void> library_create_with_ops(tempfile::io_ring& ring, int dirfd, const char* dir,
                                             std::span<const std::byte> payload, bool fsync);
/// The same system calls made synchronously through libc.
void sync_create_tmpfile(int dirfd, const char* dir, std::span<const std::byte> payload,
                         bool fsync);
/// Opens an anonymous file in `dir` synchronously (O_TMPFILE); throws on failure.
int sync_open_tmpfile(const char* dir);
/// pwrite(2) all of `data` at `offset`, looping over short writes; throws on failure.
void sync_pwrite_all(int fd, std::span<const std::byte> data, std::size_t offset);
/// Throws std::system_error for the current errno.
[[noreturn]] void throw_errno(const char* what);

/// Opens `dir` as a directory descriptor (O_PATH is enough for openat); throws on failure.
int open_directory(const char* dir);

}  // namespace tempfile_bench
