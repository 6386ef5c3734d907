// Directory syncs shared by the durable publishes in flight (a group commit): which sync a
// name waits for, what it learns of a failure, and waiters that go before their sync.

#include <tempfile/tempfile.hpp>

#include <algorithm>
#include <cerrno>
#include <exception>
#include <memory>
#include <optional>
#include <string>
#include <system_error>
#include <utility>
#include <vector>

#include <tempfile/detail/op_scope.hpp>

#include "directory_sync_batches.hpp"
#include "publish_trace.hpp"
#include "support.hpp"
#include "test_hooks.hpp"

using namespace tempfile;
using detail::directory_sync_batches;

namespace {

/// The directory syncs begun so far (`directory_sync` records each as it is issued).
std::size_t syncs_begun(const detail::publish_trace& trace) {
  return static_cast<std::size_t>(
      std::count(trace.steps().begin(), trace.steps().end(), "fsync directory"));
}

/// What a waiter saw: the syncs begun when it joined and when it resumed, and the errno
/// of the failure it was given (0: none).
struct wait_result {
  std::size_t joined_after = 0;
  std::size_t resumed_after = 0;
  int error = 0;
  std::string message;
};

task<wait_result> wait_for_sync(io_ring& ring, std::string dir,
                                const detail::publish_trace& trace) {
  wait_result result;
  result.joined_after = syncs_begun(trace);
  const std::exception_ptr failure = co_await ring.extension<directory_sync_batches>().join(dir);
  result.resumed_after = syncs_begun(trace);
  if (failure) {
    try {
      std::rethrow_exception(failure);
    } catch (const std::system_error& e) {
      result.error = e.code().value();
      result.message = e.what();
    }
  }
  co_return result;
}

task<void> wait_and_forget(io_ring& ring, std::string dir, const detail::publish_trace& trace) {
  (void)co_await wait_for_sync(ring, std::move(dir), trace);
}

/// Starts two waiters at once, then, once their sync has begun, a third.
task<std::vector<wait_result>> two_then_one(io_ring& ring, std::string dir,
                                            const detail::publish_trace& trace) {
  std::vector<task<wait_result>> waiters;
  waiters.push_back(wait_for_sync(ring, dir, trace));
  waiters.push_back(wait_for_sync(ring, dir, trace));
  for (auto& waiter : waiters) detail::task_access::start(waiter);
  while (syncs_begun(trace) == 0) co_await ring.yield();
  waiters.push_back(wait_for_sync(ring, dir, trace));
  detail::task_access::start(waiters.back());
  std::vector<wait_result> results;
  for (auto& waiter : waiters) results.push_back(co_await waiter);
  co_return results;
}

}  // namespace

TEST_CASE("names made before a directory's sync begins share it; one made while it runs waits "
          "for the next",
          "[publish][durable][batches]") {
  io_ring ring;
  test::scratch_dir dir;
  const int fds_before = test::open_fds();
  detail::publish_trace trace;
  const std::vector<wait_result> results = sync_wait(ring, two_then_one(ring, dir.path(), trace));
  REQUIRE(results.size() == 3);
  for (const wait_result& result : results) {
    CHECK(result.error == 0);
    CHECK(result.resumed_after > result.joined_after);  // a sync begun after it joined
  }
  CHECK(results[2].joined_after == 1);
  CHECK(syncs_begun(trace) == 2);  // the first two shared one
  CHECK(test::open_fds() == fds_before);
}

TEST_CASE("every name a failed directory sync covers learns its failure, with errno and path",
          "[publish][durable][batches][fault]") {
  io_ring ring;
  test::scratch_dir dir;
  detail::publish_trace trace;
  detail::simulate_publish_failure("fsync directory", EIO);
  const std::vector<wait_result> results = sync_wait(ring, two_then_one(ring, dir.path(), trace));
  detail::simulate_publish_failure("", 0);
  REQUIRE(results.size() == 3);
  for (const wait_result& result : results) {
    CHECK(result.error == EIO);
    CHECK(result.message.find("fsync " + dir.path().string()) != std::string::npos);
  }
  // A sync after a failed one works again.
  CHECK(sync_wait(ring, wait_for_sync(ring, dir.path(), trace)).error == 0);
}

TEST_CASE("a directory that cannot be opened fails the sync of every name its batch covers",
          "[publish][durable][batches][fault]") {
  io_ring ring;
  test::scratch_dir dir;
  const int fds_before = test::open_fds();
  detail::publish_trace trace;
  detail::simulate_chain_failure(IORING_OP_OPENAT, EACCES);
  const std::vector<wait_result> results = sync_wait(ring, two_then_one(ring, dir.path(), trace));
  detail::simulate_chain_failure(0, 0);
  for (const wait_result& result : results) {
    CHECK(result.error == EACCES);
    CHECK(result.message == "openat " + dir.path().string() + ": Permission denied");
  }
  CHECK(test::open_fds() == fds_before);
}

TEST_CASE("a waiter destroyed before its sync leaves the batch; the others still get theirs",
          "[publish][durable][batches][cancel]") {
  io_ring ring;
  test::scratch_dir dir;
  detail::publish_trace trace;
  const auto outcome = sync_wait(ring, [&]() -> task<std::vector<wait_result>> {
    std::vector<std::optional<task<wait_result>>> waiters(3);
    for (auto& waiter : waiters) {
      waiter.emplace(wait_for_sync(ring, dir.path(), trace));
      detail::task_access::start(*waiter);
    }
    waiters[1].reset();  // waiting in the batch: leaves it
    std::vector<wait_result> results;
    results.push_back(co_await *waiters[0]);
    results.push_back(co_await *waiters[2]);
    co_return results;
  }());
  for (const wait_result& result : outcome) CHECK(result.error == 0);
  CHECK(syncs_begun(trace) == 1);
}

TEST_CASE("a ring destroyed while names wait for their directory's sync cuts them loose",
          "[publish][durable][batches][cancel]") {
  test::scratch_dir dir;
  const int fds_before = test::open_fds();
  detail::publish_trace trace;
  std::vector<task<wait_result>> outliving;  // destroyed after the ring
  {
    io_ring ring;
    const auto start_waiter = [&] {
      outliving.push_back(wait_for_sync(ring, dir.path(), trace));
      detail::task_access::start(outliving.back());
    };
    for (int i = 0; i < 2; ++i) start_waiter();
    for (int i = 0; i < 2; ++i) ring.spawn(wait_and_forget(ring, dir.path(), trace));
    // The batch's sync is issued; those joining now wait for the next; the ring goes
    // before anyone is resumed.
    sync_wait(ring, [&]() -> task<void> {
      while (syncs_begun(trace) == 0) co_await ring.yield();
    }());
    for (int i = 0; i < 2; ++i) start_waiter();
  }
  outliving.clear();
  CHECK(test::open_fds() == fds_before);
}

TEST_CASE("a cancelled task waiting for its directory's sync is never resumed; the batch "
          "completes for the others",
          "[publish][durable][batches][cancel]") {
  io_ring ring;
  test::scratch_dir dir;
  detail::publish_trace trace;
  detail::op_scope scope;
  int resumed = 0;
  const auto counted_wait = [&]() -> task<void> {
    (void)co_await wait_for_sync(ring, dir.path(), trace);
    ++resumed;
  };
  std::optional<task<void>> cancelled;
  {
    const detail::op_scope::entered in_scope(ring, scope);
    cancelled.emplace(counted_wait());
    detail::task_access::start(*cancelled);
  }
  bool drained = false;
  test::flag_setter on_drained = test::set_when_resumed(drained);
  scope.cancel(ring, on_drained.handle);
  // Joins after the first batch's sync began: by the time it resumes, the cancelled
  // task's batch completed too, and the task was held.
  sync_wait(ring, counted_wait());
  CHECK(resumed == 1);
  CHECK(syncs_begun(trace) == 2);
  sync_wait(ring, [&]() -> task<void> { co_await ring.yield(); }());
  CHECK(drained);
  CHECK(resumed == 1);
  cancelled.reset();
  scope.end(ring);
  on_drained.handle.destroy();
}
