#pragma once
// Hand-written liburing making whole files, `depth` at a time: the io_uring ceiling that
// tempfile-bench's create, named and publish rows hold the library against.

#include <liburing.h>

#include <cstddef>
#include <filesystem>
#include <span>
#include <string>
#include <vector>

#include "interleave.hpp"

namespace tempfile_bench {

/// One ring keeping `depth` files in flight. Each file is one linked chain of SQEs (three
/// for publish: the open, the data and its sync, then the rest), every step but the last
/// with IOSQE_CQE_SKIP_SUCCESS, so a file costs one completion per chain; a slot takes its
/// next file as soon as its last chain ends.
class raw_file_maker {
 public:
  raw_file_maker(unsigned depth, unsigned setup_flags);
  ~raw_file_maker();
  raw_file_maker(const raw_file_maker&) = delete;
  raw_file_maker& operator=(const raw_file_maker&) = delete;

  /// openat_direct(O_TMPFILE) → write → [fsync] → close_direct, per file.
  void create(const std::filesystem::path& dir, std::size_t count,
              std::span<const std::byte> payload, bool fsync, latency_sampler& latencies);
  /// openat_direct(O_CREAT|O_EXCL, a fresh name) → write → [fsync] → unlinkat → close_direct.
  void named(const std::filesystem::path& dir, std::size_t count,
             std::span<const std::byte> payload, bool fsync, latency_sampler& latencies);
  /// openat(O_TMPFILE); write → fdatasync; then linkat(`prefix`N) → fsync(dir) → close. The
  /// name waits for the fdatasync's completion: a failed fsync does not break a chain (the
  /// kernel would go on to the link), so a correct program cannot link the two.
  void publish(const std::filesystem::path& dir, const std::string& prefix, std::size_t count,
               std::span<const std::byte> payload, latency_sampler& latencies);

 private:
  struct slot;
  // Runs `count` files through the slots; `prepare(slot, index, file)` queues the slot's
  // next chain (of file number `file` when the file starts) and returns false once the
  // file is complete.
  template <class Prepare>
  void keep_in_flight(std::size_t count, std::size_t write_size, latency_sampler& latencies,
                      Prepare prepare);

  io_uring ring_{};
  unsigned depth_;
  std::vector<slot> slots_;
};

}  // namespace tempfile_bench
