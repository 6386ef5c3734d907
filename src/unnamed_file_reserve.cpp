#include "unnamed_file_reserve.hpp"

#include <algorithm>
#include <system_error>
#include <utility>

#include <tempfile/when_all.hpp>

namespace tempfile::detail {
namespace {

// Directories stocked at once: with at most `capacity` descriptors each, the reserve's
// share of the process's descriptor limit stays small and known.
constexpr std::size_t max_shelves = 4;

/// One open of the batch; a failure yields no descriptor instead of throwing, so the
/// descriptors the others opened are still collected (and closed if unused). `dir` is the
/// shelf's, which stays put while its refill runs.
task<unique_fd> open_ahead(io_ring& ring, const std::filesystem::path& dir) {
  try {
    co_return unique_fd(co_await open_tmpfile(ring, dir));
  } catch (const std::system_error&) {
    co_return unique_fd();
  }
}

}  // namespace

unnamed_file_reserve::unnamed_file_reserve(io_ring& ring) noexcept
    : ring_(ring), capacity_(ring.options().unnamed_file_reserve) {}

// The ring destroys its detached tasks (the refills) before its extensions.
unnamed_file_reserve::~unnamed_file_reserve() = default;

unnamed_file_reserve::shelf* unnamed_file_reserve::find(
    const std::filesystem::path& dir) noexcept {
  const auto it = std::find_if(shelves_.begin(), shelves_.end(),
                               [&](const auto& s) { return s->dir == dir; });
  if (it == shelves_.end()) return nullptr;
  std::rotate(shelves_.begin(), it, it + 1);  // most recently used first
  return shelves_.front().get();
}

unique_fd unnamed_file_reserve::take(const std::filesystem::path& dir) {
  shelf* s = find(dir);
  if (!s || s->files.empty()) return {};
  unique_fd file = std::move(s->files.back());
  s->files.pop_back();
  refill_if_low(*s);
  return file;
}

void unnamed_file_reserve::stock(const std::filesystem::path& dir) {
  shelf* s = find(dir);
  if (!s) {
    if (shelves_.size() == max_shelves) {
      // Drop the least recently used shelf that no refill is writing to.
      const auto idle = std::find_if(shelves_.rbegin(), shelves_.rend(),
                                     [](const auto& old) { return !old->refilling; });
      if (idle == shelves_.rend()) return;
      shelves_.erase(std::next(idle).base());
    }
    shelves_.insert(shelves_.begin(), std::make_unique<shelf>());
    s = shelves_.front().get();
    s->dir = dir;
  }
  refill_if_low(*s);
}

void unnamed_file_reserve::refill_if_low(shelf& s) {
  if (s.refilling || s.files.size() > capacity_ / 2) return;
  s.refilling = true;
  ring_.spawn(refill(s, capacity_ - s.files.size()));
}

task<void> unnamed_file_reserve::refill(shelf& s, std::size_t count) {
  std::vector<task<unique_fd>> opens;
  opens.reserve(count);
  for (std::size_t i = 0; i < count; ++i) opens.push_back(open_ahead(ring_, s.dir));
  std::vector<unique_fd> opened = co_await when_all(std::move(opens));
  s.refilling = false;
  const bool all_opened = std::all_of(opened.begin(), opened.end(),
                                      [](const unique_fd& fd) { return bool(fd); });
  if (!all_opened) {  // the next direct open reports the cause and restocks
    shelves_.erase(std::find_if(shelves_.begin(), shelves_.end(),
                                [&](const auto& held) { return held.get() == &s; }));
    co_return;
  }
  for (unique_fd& fd : opened) s.files.push_back(std::move(fd));
}

}  // namespace tempfile::detail
