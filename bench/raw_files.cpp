#include "raw_files.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <atomic>
#include <bit>
#include <cstdint>
#include <system_error>

namespace tempfile_bench {
namespace {

// What a chain step is, kept in the SQE's user_data beside its slot, to name a failure.
enum class step : std::uint8_t { openat, write, fsync, unlinkat, linkat, close };

constexpr const char* step_names[] = {"raw liburing openat", "raw liburing write",
                                      "raw liburing fsync",  "raw liburing unlinkat",
                                      "raw liburing linkat", "raw liburing close"};

// Files made by the named baseline get names no other run uses.
std::atomic<unsigned long> named_files{0};

void check(int rc, const char* what) {
  if (rc < 0) throw std::system_error(-rc, std::generic_category(), what);
}

// Builds one linked chain for a slot: every step links to the next and, but for the last,
// posts a completion only if it fails (or writes short). The last step ends the chain.
class chain {
 public:
  chain(io_uring& ring, unsigned slot) : ring_(ring), slot_(slot) {}
  ~chain() {
    if (last_) last_->flags &= static_cast<std::uint8_t>(~(IOSQE_IO_LINK | IOSQE_CQE_SKIP_SUCCESS));
  }
  chain(const chain&) = delete;
  chain& operator=(const chain&) = delete;

  /// A fresh SQE for the next step; call `mark` once its prep_* has filled it.
  io_uring_sqe* next() {
    io_uring_sqe* sqe = io_uring_get_sqe(&ring_);
    if (!sqe) throw std::system_error(EBUSY, std::generic_category(), "raw liburing: SQ full");
    return sqe;
  }
  void mark(io_uring_sqe* sqe, step kind, bool fixed_file) {
    io_uring_sqe_set_data64(sqe, (std::uint64_t{slot_} << 8) | static_cast<std::uint8_t>(kind));
    sqe->flags |= IOSQE_IO_LINK | IOSQE_CQE_SKIP_SUCCESS;
    if (fixed_file) sqe->flags |= IOSQE_FIXED_FILE;
    last_ = sqe;
  }

 private:
  io_uring& ring_;
  unsigned slot_;
  io_uring_sqe* last_ = nullptr;
};

void add_write(chain& links, int fd, std::span<const std::byte> payload, bool fixed_file) {
  io_uring_sqe* sqe = links.next();
  io_uring_prep_write(sqe, fd, payload.data(), static_cast<unsigned>(payload.size()), 0);
  links.mark(sqe, step::write, fixed_file);
}

void add_fsync(chain& links, int fd, unsigned flags, bool fixed_file) {
  io_uring_sqe* sqe = links.next();
  io_uring_prep_fsync(sqe, fd, flags);
  links.mark(sqe, step::fsync, fixed_file);
}

void add_close_direct(chain& links, unsigned slot) {
  io_uring_sqe* sqe = links.next();
  io_uring_prep_close_direct(sqe, slot);
  links.mark(sqe, step::close, false);
}

}  // namespace

struct raw_file_maker::slot {
  unsigned phase = 0;               // chains of the current file completed
  int fd = -1;                      // publish: the descriptor the first chain opened
  latency_sampler::token started{};
  std::string name;                 // paths the kernel reads while the chain runs
  std::string source;
};

raw_file_maker::raw_file_maker(unsigned depth, unsigned setup_flags)
    : depth_(depth), slots_(depth) {
  // Room for every slot's longest chain (5 SQEs) in one submission.
  check(io_uring_queue_init(std::bit_ceil(depth * 5), &ring_, setup_flags), "io_uring_queue_init");
  if (int rc = io_uring_register_files_sparse(&ring_, depth); rc < 0) {
    io_uring_queue_exit(&ring_);
    check(rc, "io_uring_register_files_sparse");
  }
}

raw_file_maker::~raw_file_maker() { io_uring_queue_exit(&ring_); }

template <class Prepare>
void raw_file_maker::keep_in_flight(std::size_t count, std::size_t write_size,
                                    latency_sampler& latencies, Prepare prepare) {
  std::size_t started = 0, done = 0;
  auto start_file = [&](unsigned index) {
    slot& s = slots_[index];
    s.phase = 0;
    s.fd = -1;
    s.started = latencies.start();
    prepare(s, index, started++);
  };
  for (unsigned i = 0; i < depth_ && started < count; ++i) start_file(i);
  while (done < count) {
    check(io_uring_submit_and_wait(&ring_, 1), "io_uring_submit_and_wait");
    unsigned head, seen = 0;
    io_uring_cqe* cqe;
    io_uring_for_each_cqe(&ring_, head, cqe) {
      ++seen;
      const auto index = static_cast<unsigned>(cqe->user_data >> 8);
      const auto kind = static_cast<step>(cqe->user_data & 0xff);
      check(cqe->res, step_names[static_cast<unsigned>(kind)]);
      // A write's completion arrives only when it wrote short.
      if (kind == step::write && static_cast<std::size_t>(cqe->res) != write_size)
        throw std::system_error(EIO, std::generic_category(), "raw liburing write: short write");
      slot& s = slots_[index];
      if (kind == step::openat) s.fd = cqe->res;
      ++s.phase;
      if (prepare(s, index, 0)) continue;
      latencies.finish(s.started);
      ++done;
      if (started < count) start_file(index);
    }
    io_uring_cq_advance(&ring_, seen);
  }
}

void raw_file_maker::create(const std::filesystem::path& dir, std::size_t count,
                            std::span<const std::byte> payload, bool fsync,
                            latency_sampler& latencies) {
  keep_in_flight(count, payload.size(), latencies, [&](slot& s, unsigned index, std::size_t) {
    if (s.phase > 0) return false;
    chain links(ring_, index);
    io_uring_sqe* open = links.next();
    io_uring_prep_openat_direct(open, AT_FDCWD, dir.c_str(), O_TMPFILE | O_RDWR, 0600, index);
    links.mark(open, step::openat, false);
    add_write(links, static_cast<int>(index), payload, true);
    if (fsync) add_fsync(links, static_cast<int>(index), 0, true);
    add_close_direct(links, index);
    return true;
  });
}

void raw_file_maker::named(const std::filesystem::path& dir, std::size_t count,
                           std::span<const std::byte> payload, bool fsync,
                           latency_sampler& latencies) {
  const std::string prefix = (dir / ("tmpraw" + std::to_string(::getpid()) + "-")).string();
  keep_in_flight(count, payload.size(), latencies, [&](slot& s, unsigned index, std::size_t) {
    if (s.phase > 0) return false;
    s.name = prefix + std::to_string(named_files++);
    chain links(ring_, index);
    io_uring_sqe* open = links.next();
    io_uring_prep_openat_direct(open, AT_FDCWD, s.name.c_str(), O_CREAT | O_EXCL | O_RDWR, 0600,
                                index);
    links.mark(open, step::openat, false);
    add_write(links, static_cast<int>(index), payload, true);
    if (fsync) add_fsync(links, static_cast<int>(index), 0, true);
    io_uring_sqe* unlink = links.next();
    io_uring_prep_unlinkat(unlink, AT_FDCWD, s.name.c_str(), 0);
    links.mark(unlink, step::unlinkat, false);
    add_close_direct(links, index);
    return true;
  });
}

void raw_file_maker::publish(const std::filesystem::path& dir, const std::string& prefix,
                             std::size_t count, std::span<const std::byte> payload,
                             latency_sampler& latencies) {
  const int dirfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dirfd < 0) throw std::system_error(errno, std::generic_category(), dir.string());
  try {
    keep_in_flight(count, payload.size(), latencies, [&](slot& s, unsigned index,
                                                         std::size_t file) {
      chain links(ring_, index);
      if (s.phase == 0) {  // the link step needs the descriptor's number: open first
        s.name = (dir / (prefix + std::to_string(file))).string();
        io_uring_sqe* open = links.next();
        io_uring_prep_openat(open, AT_FDCWD, dir.c_str(), O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
        links.mark(open, step::openat, false);
        return true;
      }
      if (s.phase == 1) {  // the data, synced: a failed fdatasync does not break a chain,
                           // so the name may only follow once its completion said so
        add_write(links, s.fd, payload, false);
        add_fsync(links, s.fd, IORING_FSYNC_DATASYNC, false);
        return true;
      }
      if (s.phase > 2) return false;
      s.source = "/proc/self/fd/" + std::to_string(s.fd);
      io_uring_sqe* link = links.next();
      io_uring_prep_linkat(link, AT_FDCWD, s.source.c_str(), AT_FDCWD, s.name.c_str(),
                           AT_SYMLINK_FOLLOW);
      links.mark(link, step::linkat, false);
      add_fsync(links, dirfd, 0, false);
      io_uring_sqe* close = links.next();
      io_uring_prep_close(close, s.fd);
      links.mark(close, step::close, false);
      return true;
    });
  } catch (...) {
    ::close(dirfd);
    throw;
  }
  ::close(dirfd);
}

}  // namespace tempfile_bench
