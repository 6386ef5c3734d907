#include "directory_sync.hpp"

#include <fcntl.h>

#include <cstdint>
#include <string>
#include <system_error>
#include <unordered_map>

#include <tempfile/ops.hpp>
#include <tempfile/publish_trace.hpp>
#include <tempfile/unique_fd.hpp>

namespace tempfile::detail {
namespace fs = std::filesystem;
namespace {

/// What a waiting caller is told when the sync it waited for is its own to run.
constexpr int your_turn = 1;  // fsync results are 0 or -errno

/// The directory syncs of one ring, by directory.
class directory_syncs final : public ring_extension {
 public:
  struct group {
    bool syncing = false;  // a sync runs, or its successor has been told to start one
    op_list covered;       // callers the running sync covers: they came before it began
    op_list next;          // callers that came during it: the next sync covers them
  };

  explicit directory_syncs(io_ring&) noexcept {}
  ~directory_syncs() override {
    for (auto& [dir, group] : groups_) {  // callers of tasks that outlive the ring
      event_op::forget(group.covered);
      event_op::forget(group.next);
    }
  }
  group& of(const fs::path& dir) { return groups_[dir.native()]; }
  void forget_idle(const fs::path& dir) { groups_.erase(dir.native()); }

  std::uint64_t rounds = 0;  // syncs run

 private:
  std::unordered_map<std::string, group> groups_;  // nodes: a group never moves
};

/// 0 or -errno: the outcome every caller the sync covers is told.
task<int> sync_once(io_ring& ring, fs::path dir) {
  int result = 0;
  try {
    const unique_fd directory(co_await ops::openat(ring, AT_FDCWD, dir.c_str(),
                                                   O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0));
    co_await ops::fsync(ring, directory.get(), false);
  } catch (const std::system_error& e) {
    result = -e.code().value();
  }
  co_return result;
}

/// Lets the first caller that came during the sync just ended run the next one; with none,
/// the directory is idle (and its group forgotten).
void pass_on(directory_syncs& syncs, directory_syncs::group& group, const fs::path& dir) {
  if (!group.next.empty()) {
    event_op::complete_first(group.next, your_turn);
  } else {
    group.syncing = false;
    syncs.forget_idle(dir);
  }
}

/// The running sync's end: its callers are told `result`, and the first caller that came
/// meanwhile runs the next sync. Also what a leader destroyed mid-sync leaves behind
/// (`finished` false): its callers wait for the next sync with the others.
class round_end {
 public:
  round_end(directory_syncs& syncs, directory_syncs::group& group, fs::path dir) noexcept
      : syncs_(syncs), group_(group), dir_(std::move(dir)) {}
  round_end(const round_end&) = delete;
  round_end& operator=(const round_end&) = delete;
  ~round_end() {
    if (!told_) {
      // Cancelled: nobody was covered. Everyone waits for the next sync, in arrival order.
      move_all(group_.next, group_.covered);
      move_all(group_.covered, group_.next);
    }
    pass_on(syncs_, group_, dir_);
  }
  void tell(int result) noexcept {
    while (!group_.covered.empty()) event_op::complete_first(group_.covered, result);
    told_ = true;
  }

 private:
  static void move_all(op_list& from, op_list& to) noexcept {
    while (!from.empty()) event_op::move(static_cast<event_op&>(*from.front()), to);
  }

  directory_syncs& syncs_;
  directory_syncs::group& group_;
  fs::path dir_;
  bool told_ = false;
};

/// A waiting caller told to run the next sync but destroyed before it resumed: the turn
/// passes on, or the callers behind it would wait forever.
class turn_keeper {
 public:
  turn_keeper(directory_syncs& syncs, directory_syncs::group& group, const fs::path& dir,
              const event_op& wait) noexcept
      : syncs_(syncs), group_(group), dir_(dir), wait_(wait) {}
  turn_keeper(const turn_keeper&) = delete;
  turn_keeper& operator=(const turn_keeper&) = delete;
  ~turn_keeper() {
    if (wait_.untaken_result() == your_turn) pass_on(syncs_, group_, dir_);
  }

 private:
  directory_syncs& syncs_;
  directory_syncs::group& group_;
  const fs::path& dir_;
  const event_op& wait_;
};

[[noreturn]] void throw_sync_error(int result, const fs::path& dir) {
  throw std::system_error(-result, std::generic_category(), "fsync " + dir.string());
}

}  // namespace

task<void> shared_directory_sync(io_ring& ring, fs::path dir) {
  auto& syncs = ring.extension<directory_syncs>();
  directory_syncs::group& group = syncs.of(dir);
  if (group.syncing) {
    event_op wait(ring, group.next);
    const turn_keeper keeper(syncs, group, dir, wait);
    const int told = co_await wait;
    if (told != your_turn) {
      if (told < 0) throw_sync_error(told, dir);
      co_return;
    }
  }
  // This caller runs a sync that covers everyone waiting so far.
  group.syncing = true;
  while (!group.next.empty())
    event_op::move(static_cast<event_op&>(*group.next.front()), group.covered);
  ++syncs.rounds;
  int result;
  {
    round_end end(syncs, group, dir);
    result = co_await sync_once(ring, dir);
    end.tell(result);
  }  // the group may be gone from here on
  if (result < 0) throw_sync_error(result, dir);
}

std::uint64_t directory_sync_rounds(io_ring& ring) {
  return ring.extension<directory_syncs>().rounds;
}

}  // namespace tempfile::detail
