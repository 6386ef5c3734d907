// Linked chains that go on after a failure (linked_ops::add_after_any): each op from the
// first such one reports on its own, and the chain's coroutine resumes once, after the last.

#include <fcntl.h>
#include <unistd.h>

#include <tempfile/tempfile.hpp>

#include <array>
#include <cerrno>
#include <coroutine>
#include <exception>
#include <optional>
#include <string>
#include <vector>

#include "support.hpp"

#include <tempfile/detail/op_scope.hpp>

using namespace tempfile;
using detail::linked_ops;

namespace {

constexpr const char* missing = "/nonexistent/source";
constexpr const char* missing_too = "/nonexistent/target";

struct three_results {
  int first, second, third;
  std::uint64_t completions;
};

/// linkat (fails: ENOENT) →any→ fsync of a pipe (fails: EINVAL) →any→ write of `text` to
/// the pipe's write end.
task<three_results> link_sync_write(io_ring& ring, int pipe_write, std::string text) {
  auto link = ops::linkat(ring, AT_FDCWD, missing, AT_FDCWD, missing_too, 0);
  auto sync = ops::fsync(ring, pipe_write);
  auto write = ops::write(ring, pipe_write, std::as_bytes(std::span(text)), 0);
  linked_ops chain(link);
  chain.add_after_any(sync);
  chain.add_after_any(write);
  const std::uint64_t before = ring.stats().completed;
  co_await chain;
  co_return three_results{linked_ops::result(link), linked_ops::result(sync),
                          linked_ops::result(write), ring.stats().completed - before};
}

/// linkat (fails) →any→ a write `breaking` (refused: EBADF), then a NOP only after a
/// complete write.
task<three_results> link_then_broken_write(io_ring& ring, int read_end) {
  const std::string text = "never";
  auto link = ops::linkat(ring, AT_FDCWD, missing, AT_FDCWD, missing_too, 0);
  auto write = ops::write(ring, read_end, std::as_bytes(std::span(text)), 0);
  auto nop = ops::nop(ring);
  linked_ops chain(link);
  chain.add_after_any(write);
  chain.add(static_cast<int>(text.size()), nop);
  const std::uint64_t before = ring.stats().completed;
  co_await chain;
  co_return three_results{linked_ops::result(link), linked_ops::result(write),
                          linked_ops::result(nop), ring.stats().completed - before};
}

/// fsync of a pipe's `write_end` (fails at once in io-wq: EINVAL, and reports) →any→ a read
/// of its `read_end` into `buffer`, which blocks until cancelled while the pipe holds no
/// data; yields the read's result.
task<int> sync_then_blocked_read(io_ring& ring, int write_end, int read_end,
                                 std::vector<std::byte>& buffer) {
  auto sync = ops::fsync(ring, write_end);
  auto read = ops::read(ring, read_end, buffer, 0);
  linked_ops chain(sync);
  chain.add_after_any(read);
  co_await chain;
  co_return linked_ops::result(read);
}

std::string drain(int fd) {
  REQUIRE(::fcntl(fd, F_SETFL, O_NONBLOCK) == 0);
  std::string got;
  std::array<char, 256> buffer;
  for (ssize_t n; (n = ::read(fd, buffer.data(), buffer.size())) > 0;) got.append(buffer.data(), n);
  return got;
}

}  // namespace

TEST_CASE("a chain goes on past ops added with add_after_any: each failure is reported, the "
          "rest runs, and the coroutine resumes once, after the last op",
          "[runtime][linked]") {
  io_ring ring;
  test::pipe_pair pipe;
  const three_results done = sync_wait(ring, link_sync_write(ring, pipe.fds[1], "after"));
  CHECK(done.first == -ENOENT);
  CHECK(done.second == -EINVAL);
  CHECK(done.third == 5);
  CHECK(done.completions == 3);  // one per op from the first that goes on
  CHECK(drain(pipe.fds[0]) == "after");
  CHECK(sync_wait(ring, link_sync_write(ring, pipe.fds[1], "again")).third == 5);
  CHECK(drain(pipe.fds[0]) == "again");
}

TEST_CASE("an op that breaks a chain after one added with add_after_any cancels the rest; the "
          "chain still ends at the last op's completion",
          "[runtime][linked]") {
  io_ring ring;
  test::pipe_pair pipe;
  const three_results done = sync_wait(ring, link_then_broken_write(ring, pipe.fds[0]));
  CHECK(done.first == -ENOENT);
  CHECK(done.second == -EBADF);
  CHECK(done.third == -ECANCELED);
  CHECK(done.completions == 3);
  CHECK(sync_wait(ring, link_sync_write(ring, pipe.fds[1], "ok")).third == 2);  // no stray CQE
}

TEST_CASE("a chain whose op added with add_after_any is failed by the kernel as a NOP (which "
          "breaks a chain) ends at its last op's cancellation",
          "[runtime][linked][fault]") {
  io_ring ring;
  test::pipe_pair pipe;
  auto broken = [&]() -> task<three_results> {
    const std::string text = "never";
    auto sync = ops::fsync(ring, pipe.fds[1]);
    auto write = ops::write(ring, pipe.fds[1], std::as_bytes(std::span(text)), 0);
    auto nop = ops::nop(ring);
    detail::fail_in_kernel(sync, EIO);
    linked_ops chain(sync);
    chain.add_after_any(write);
    chain.add(static_cast<int>(text.size()), nop);
    co_await chain;
    co_return three_results{linked_ops::result(sync), linked_ops::result(write),
                            linked_ops::result(nop), 0};
  };
  const three_results done = sync_wait(ring, broken());
  CHECK(done.first == -EIO);
  CHECK(done.second == -ECANCELED);
  CHECK(done.third == -ECANCELED);
  CHECK(drain(pipe.fds[0]).empty());
  CHECK(sync_wait(ring, link_sync_write(ring, pipe.fds[1], "ok")).third == 2);
}

TEST_CASE("chains that post several completions share a small CQ without overflowing it",
          "[runtime][linked]") {
  // The smallest CQ there is (8: one slot for the ring's wake poll): room for two such chains.
  io_ring ring(ring_options{.entries = 2, .cq_entries = 4});
  test::pipe_pair pipe;
  std::vector<task<three_results>> chains;
  for (int i = 0; i < 8; ++i) chains.push_back(link_sync_write(ring, pipe.fds[1], "x"));
  const std::vector<three_results> all = sync_wait(ring, when_all(std::move(chains)));
  for (const three_results& done : all) {
    CHECK(done.first == -ENOENT);
    CHECK(done.second == -EINVAL);
    CHECK(done.third == 1);
  }
  CHECK(ring.stats().backlogged > 0);
  CHECK(drain(pipe.fds[0]) == std::string(8, 'x'));
}

TEST_CASE("a chain going on past a failure, destroyed while its last op blocks, is cancelled "
          "and waited for; so is one its ring outlives no longer",
          "[runtime][linked][lifetime]") {
  test::pipe_pair pipe;
  std::vector<std::byte> buffer(16);
  const int fds_before = test::open_fds();
  std::optional<task<int>> left;  // outlives the ring
  {
    io_ring ring;
    {
      task<int> waiting = sync_then_blocked_read(ring, pipe.fds[1], pipe.fds[0], buffer);
      detail::task_access::start(waiting);
      // NOPs until the fsync's failure came in (from io-wq): then the read waits.
      const bool reported = sync_wait(ring, [&]() -> task<bool> {
        for (std::uint64_t nops = 1; nops <= 10'000; ++nops) {
          co_await ops::nop(ring);
          if (ring.stats().completed > nops) co_return true;
        }
        co_return false;
      }());
      REQUIRE(reported);
    }  // the frame dies: the read is cancelled and its completion awaited
    CHECK(sync_wait(ring, link_sync_write(ring, pipe.fds[1], "on")).third == 2);
    CHECK(drain(pipe.fds[0]) == "on");
    REQUIRE(::fcntl(pipe.fds[0], F_SETFL, 0) == 0);
    left.emplace(sync_then_blocked_read(ring, pipe.fds[1], pipe.fds[0], buffer));
    detail::task_access::start(*left);
    sync_wait(ring, [&]() -> task<void> { co_await ring.yield(); }());
  }  // the ring goes first: it cancels the chain and cuts it loose
  left.reset();
  CHECK(test::open_fds() == fds_before);
}

TEST_CASE("a cancelled scope's chain going on past a failure is cancelled up to its last op, "
          "even one the kernel starts only after the cancellation",
          "[runtime][linked][cancel]") {
  io_ring ring;
  test::pipe_pair pipe;
  std::vector<std::byte> buffer(16);
  detail::op_scope scope;
  std::optional<task<int>> waiting;
  {
    const detail::op_scope::entered in_scope(ring, scope);
    waiting.emplace(sync_then_blocked_read(ring, pipe.fds[1], pipe.fds[0], buffer));
    detail::task_access::start(*waiting);
  }
  sync_wait(ring, [&]() -> task<void> { co_await ring.yield(); }());  // the chain is submitted
  // Meanwhile the fsync failed in io-wq; under DEFER_TASKRUN its completion, and the start
  // of the read after it, wait for the ring's next io_uring_enter, which submits the
  // cancellations below first: they find the fsync done and the read not yet started.
  ::usleep(50'000);
  bool drained = false;
  test::flag_setter on_drained = test::set_when_resumed(drained);
  scope.cancel(ring, on_drained.handle);
  const bool done = sync_wait(ring, [&]() -> task<bool> {
    for (int i = 0; i < 10'000 && !drained; ++i) co_await ops::nop(ring);
    co_return drained;
  }());
  CHECK(done);  // the read was cancelled: nothing of the scope is in flight
  waiting.reset();
  scope.end(ring);
  on_drained.handle.destroy();
  CHECK(sync_wait(ring, link_sync_write(ring, pipe.fds[1], "on")).third == 2);
}
