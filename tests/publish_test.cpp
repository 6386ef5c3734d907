// Publishing (link, replace, persist, persist_noclobber): whole contents or nothing at the
// target, no stray names, durable order, copies across filesystems; exact permissions;
// reopen.

#include <fcntl.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <tempfile/detail/op_scope.hpp>
#include <tempfile/tempfile.hpp>

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "directory_sync_batches.hpp"
#include "module_state.hpp"
#include "publish_trace.hpp"
#include "support.hpp"
#include "test_hooks.hpp"

using namespace tempfile;
using test::has_errno;
namespace fs = std::filesystem;

namespace {

/// Every way to publish, each on the file type that offers it.
enum class way { link, replace, spooled_link, spooled_replace, rolled_replace, persist, persist_noclobber };
constexpr way all_ways[] = {way::link,           way::replace, way::spooled_link,
                            way::spooled_replace, way::rolled_replace, way::persist,
                            way::persist_noclobber};

const char* name_of(way w) {
  switch (w) {
    case way::link: return "temporary_file::link";
    case way::replace: return "temporary_file::replace";
    case way::spooled_link: return "spooled_temporary_file::link (in memory)";
    case way::spooled_replace: return "spooled_temporary_file::replace (in memory)";
    case way::rolled_replace: return "spooled_temporary_file::replace (rolled over)";
    case way::persist: return "named_temporary_file::persist";
    case way::persist_noclobber: return "named_temporary_file::persist_noclobber";
  }
  return "";
}

bool replaces(way w) {
  return w == way::replace || w == way::spooled_replace || w == way::rolled_replace ||
         w == way::persist;
}

bool renames(way w) { return w == way::persist || w == way::persist_noclobber; }

/// Whether `w` copies the data across filesystems: a spooled file in memory is written
/// straight into the target's directory instead.
bool copies(way w) { return w != way::spooled_link && w != way::spooled_replace; }

/// What the object held after a publish, and how the publish ended.
struct outcome {
  int error = 0;            ///< errno of the failed publish; 0 on success
  std::string message;      ///< its what()
  std::string kept;         ///< the object's contents afterwards
  std::int64_t position = -1;
};

task<void> publish(temporary_file& file, way w, fs::path target) {
  if (w == way::link)
    co_await file.link(target);
  else
    co_await file.replace(target);
}

task<void> publish(spooled_temporary_file& file, way w, fs::path target) {
  if (w == way::rolled_replace) co_await file.rollover();
  if (w == way::spooled_link)
    co_await file.link(target);
  else
    co_await file.replace(target);
}

task<void> publish(named_temporary_file& file, way w, fs::path target) {
  if (w == way::persist)
    co_await file.persist(target);
  else
    co_await file.persist_noclobber(target);
}

/// Writes `data`, publishes at `target`, reads everything back and closes.
template <class File>
task<outcome> write_publish_read(File file, way w, fs::path target, std::string data) {
  co_await file.write(data);
  outcome result;
  try {
    co_await publish(file, w, target);
  } catch (const std::system_error& e) {
    result.error = e.code().value();
    result.message = e.what();
  }
  result.position = file.tell();
  file.seek(0);
  result.kept = co_await file.read();
  co_await file.close();
  co_return result;
}

/// A file of the type `w` needs, created in `dir` with `opts`, through `write_publish_read`.
task<outcome> run(io_ring& ring, way w, fs::path dir, fs::path target, std::string data,
                  options opts = options()) {
  opts.dir(dir);
  if (w == way::link || w == way::replace) {
    temporary_file file = co_await temporary_file::create(ring, opts);
    co_return co_await write_publish_read(std::move(file), w, target, data);
  }
  if (renames(w)) {
    named_temporary_file file = co_await named_temporary_file::create(ring, opts);
    co_return co_await write_publish_read(std::move(file), w, target, data);
  }
  co_return co_await write_publish_read(spooled_temporary_file(ring, opts), w, target, data);
}

std::set<std::string> names_in(const fs::path& dir) {
  std::set<std::string> names;
  for (const auto& entry : fs::directory_iterator(dir)) names.insert(entry.path().filename());
  return names;
}

mode_t mode_of(const fs::path& p) {
  struct stat st;
  REQUIRE(::stat(p.c_str(), &st) == 0);
  return st.st_mode & 07777;
}

mode_t mode_of(int fd) {
  struct stat st;
  REQUIRE(::fstat(fd, &st) == 0);
  return st.st_mode & 07777;
}

void write_file(const fs::path& p, const std::string& contents) {
  std::ofstream(p, std::ios::binary) << contents;
}

/// Makes one publishing step fail with `error` for as long as it lives.
class injected_failure {
 public:
  injected_failure(const std::string& step, int error) { detail::simulate_publish_failure(step, error); }
  ~injected_failure() { detail::simulate_publish_failure("", 0); }
  injected_failure(const injected_failure&) = delete;
  injected_failure& operator=(const injected_failure&) = delete;
};

/// The steps a durable publish of `w` issues on one filesystem, in order. Where the file
/// itself is linked or renamed, its last buffered bytes are written in that chain.
std::vector<std::string> durable_steps(way w) {
  if (renames(w)) return {"write", "fdatasync", "renameat", "fsync directory"};
  if (w == way::link) return {"write", "fdatasync", "linkat", "fsync directory"};
  if (w == way::spooled_link) return {"fdatasync", "linkat", "fsync directory"};  // unbuffered
  return {"fdatasync", "linkat", "renameat", "fsync directory"};
}

/// A small journaled ext4 file system on a loop device, mounted for one test. Needs root,
/// loop devices and mkfs.ext4; `mounted()` says whether it worked.
class ext4_image {
 public:
  ext4_image() : image_(dir_ / "image"), where_(dir_ / "ext4") {
    fs::create_directory(where_);
    const std::string make = "truncate -s 16M " + image_.string() + " && mkfs.ext4 -q -F " +
                             image_.string() + " >/dev/null 2>&1 && mount -o loop " +
                             image_.string() + " " + where_.string() + " 2>/dev/null";
    mounted_ = std::system(make.c_str()) == 0;
  }
  ~ext4_image() {
    if (mounted_) ::umount2(where_.c_str(), MNT_DETACH);
  }
  ext4_image(const ext4_image&) = delete;
  ext4_image& operator=(const ext4_image&) = delete;
  bool mounted() const { return mounted_; }
  const fs::path& path() const { return where_; }

 private:
  test::scratch_dir dir_;
  fs::path image_;
  fs::path where_;
  bool mounted_ = false;
};

const std::string payload = "the whole upload\n";

}  // namespace

TEST_CASE("every publish puts the whole contents at the target and keeps the position",
          "[publish]") {
  io_ring ring;
  for (const way w : all_ways) {
    CAPTURE(name_of(w));
    test::scratch_dir dir;
    const fs::path target = dir / "published";
    const outcome result = sync_wait(ring, run(ring, w, dir.path(), target, payload));
    CHECK(result.error == 0);
    CHECK(result.kept == payload);
    CHECK(result.position == static_cast<std::int64_t>(payload.size()));
    CHECK(test::slurp(target) == payload);
    CHECK(names_in(dir.path()) == std::set<std::string>{"published"});
  }
}

TEST_CASE("replace and persist replace a taken target; link and persist_noclobber refuse it",
          "[publish]") {
  io_ring ring;
  for (const way w : all_ways) {
    CAPTURE(name_of(w));
    test::scratch_dir dir;
    const fs::path target = dir / "published";
    write_file(target, "old contents");
    const outcome result = sync_wait(ring, run(ring, w, dir.path(), target, payload));
    CHECK(result.kept == payload);  // the data stays in the object either way
    if (replaces(w)) {
      CHECK(result.error == 0);
      CHECK(test::slurp(target) == payload);
    } else {
      CHECK(result.error == EEXIST);
      CHECK(test::slurp(target) == "old contents");
    }
    CHECK(names_in(dir.path()) == std::set<std::string>{"published"});  // no fresh name left
  }
}

TEST_CASE("a spooled file in memory publishes without rolling over", "[publish][spooled]") {
  test::scratch_dir dir;
  io_ring ring;
  auto body = [&]() -> task<void> {
    spooled_temporary_file spool(ring, options().dir(dir.path()));
    co_await spool.write(payload);
    co_await spool.link(dir / "linked");
    co_await spool.replace(dir / "linked");
    CHECK_FALSE(spool.rolled_over());
    CHECK(spool.tell() == static_cast<std::int64_t>(payload.size()));
    co_await spool.close();
  };
  sync_wait(ring, body());
  CHECK(test::slurp(dir / "linked") == payload);
  CHECK(names_in(dir.path()) == std::set<std::string>{"linked"});
}

TEST_CASE("persist and persist_noclobber move the name: the file is kept there after close",
          "[publish][named]") {
  test::scratch_dir dir;
  io_ring ring;
  auto body = [&]() -> task<void> {
    named_temporary_file file = co_await named_temporary_file::create(ring, options().dir(dir.path()));
    const fs::path old_name = file.name();
    co_await file.write(payload);
    co_await file.persist_noclobber(dir / "first");
    CHECK(file.name() == dir / "first");
    CHECK_FALSE(fs::exists(old_name));
    co_await file.persist(dir / "second");
    CHECK(file.name() == dir / "second");
    co_await file.close();
  };
  sync_wait(ring, body());
  CHECK(test::slurp(dir / "second") == payload);
  CHECK(names_in(dir.path()) == std::set<std::string>{"second"});
}

TEST_CASE("durable publishing syncs the data, then makes the name, then syncs the directory",
          "[publish][durable]") {
  io_ring ring;
  for (const way w : all_ways) {
    CAPTURE(name_of(w));
    test::scratch_dir dir;
    std::vector<std::string> steps;
    {
      detail::publish_trace trace;
      const outcome result = sync_wait(
          ring, run(ring, w, dir.path(), dir / "published", payload, options().durable(true)));
      CHECK(result.error == 0);
      steps = trace.steps();
    }
    CHECK(steps == durable_steps(w));
    CHECK(test::slurp(dir / "published") == payload);
  }
  SECTION("without durable, no sync is issued") {
    test::scratch_dir dir;
    detail::publish_trace trace;
    CHECK(sync_wait(ring, run(ring, way::link, dir.path(), dir / "a", payload)).error == 0);
    CHECK(sync_wait(ring, run(ring, way::persist, dir.path(), dir / "b", payload)).error == 0);
    CHECK(trace.steps() == std::vector<std::string>{"write", "linkat", "write", "renameat"});
  }
}

TEST_CASE("a publish failing at any step leaves no name behind and keeps the data",
          "[publish][durable][fault]") {
  io_ring ring;
  const int fds_before = test::open_fds();
  for (const way w : all_ways) {
    for (const std::string& step : durable_steps(w)) {
      if (step == "fsync directory") continue;  // the name exists by then: below
      CAPTURE(name_of(w), step);
      test::scratch_dir dir;
      const fs::path target = dir / "published";
      write_file(target, "old contents");
      outcome result;
      {
        injected_failure failing(step, EIO);
        result = sync_wait(ring, run(ring, w, dir.path(), dir / "published", payload,
                                     options().durable(true)));
      }
      CHECK(result.error == EIO);
      CHECK(result.message.find(dir.path().string()) != std::string::npos);  // names the path
      CHECK(result.kept == payload);
      CHECK(test::slurp(target) == "old contents");
      CHECK(names_in(dir.path()) == std::set<std::string>{"published"});
      CHECK(test::open_fds() == fds_before);
    }
  }
}

TEST_CASE("a failed directory sync is reported; the name is there, whole", "[publish][durable][fault]") {
  io_ring ring;
  for (const way w : {way::link, way::replace, way::persist}) {
    CAPTURE(name_of(w));
    test::scratch_dir dir;
    outcome result;
    {
      injected_failure failing("fsync directory", EIO);
      result = sync_wait(ring, run(ring, w, dir.path(), dir / "published", payload,
                                   options().durable(true)));
    }
    CHECK(result.error == EIO);
    CHECK(result.message.find(dir.path().string()) != std::string::npos);
    CHECK(test::slurp(dir / "published") == payload);
    CHECK(names_in(dir.path()) == std::set<std::string>{"published"});
  }
}

TEST_CASE("a directory that cannot be opened for its sync fails a durable publish before any "
          "name appears",
          "[publish][durable][fault]") {
  io_ring ring;
  const int fds_before = test::open_fds();
  for (const way w : {way::link, way::replace, way::persist}) {
    CAPTURE(name_of(w));
    test::scratch_dir dir;
    write_file(dir / "published", "old contents");
    outcome result;
    {
      detail::simulate_chain_failure(IORING_OP_OPENAT, EACCES);  // the directory's open
      result = sync_wait(ring, run(ring, w, dir.path(), dir / "published", payload,
                                   options().durable(true)));
      detail::simulate_chain_failure(0, 0);
    }
    CHECK(result.error == EACCES);
    CHECK(result.message == "openat " + dir.path().string() + ": Permission denied");
    CHECK(result.kept == payload);
    CHECK(test::slurp(dir / "published") == "old contents");
    CHECK(names_in(dir.path()) == std::set<std::string>{"published"});
    CHECK(test::open_fds() == fds_before);
  }
}

/// Awaits `body(file)` on a fresh file of the type `w` publishes from, made with `opts`.
template <class Body>
task<void> with_file(io_ring& ring, way w, options opts, Body body) {
  if (renames(w)) {
    named_temporary_file file = co_await named_temporary_file::create(ring, opts);
    co_await body(file);
  } else {
    temporary_file file = co_await temporary_file::create(ring, opts);
    co_await body(file);
  }
}

TEST_CASE("a publish writes the bytes a file still buffers in the chain that names it, or, "
          "durable, in the chain that syncs it",
          "[publish][linked]") {
  io_ring ring;
  for (const bool durable : {false, true}) {
    for (const way w : {way::link, way::persist, way::persist_noclobber}) {
      CAPTURE(name_of(w), durable);
      test::scratch_dir dir;
      ring_stats during;
      auto publish_once = [&](auto& file) -> task<void> {
        co_await file.write(payload);  // buffered
        const ring_stats before = ring.stats();
        co_await publish(file, w, dir / "published");
        during.submitted = ring.stats().submitted - before.submitted;
        during.completed = ring.stats().completed - before.completed;
        co_await file.close();
      };
      const options opts = options().dir(dir.path()).durable(durable);
      sync_wait(ring, with_file(ring, w, opts, publish_once));
      // Durable: write + fdatasync, whose CQE must come before the name (a failed fsync does
      // not break a chain), or for a fresh unnamed file, whose buffer is all its data, the
      // write alone, syncing itself; then the directory's open + the name + its fsync + its
      // close, where the name and the fsync post their own CQEs, the close the chain's last.
      CHECK(during.submitted == (durable ? (w == way::link ? 5u : 6u) : 2u));
      CHECK(during.completed == (durable ? 4u : 1u));
      CHECK(test::slurp(dir / "published") == payload);
      CHECK(names_in(dir.path()) == std::set<std::string>{"published"});
    }
  }
}

TEST_CASE("a durable publish lets its last write sync the data only while the buffer holds "
          "all of it",
          "[publish][durable][linked]") {
  // What a file went through before its last buffered write and its durable publish. Only a
  // fresh unnamed file holds no data but its buffer's; any other needs the fdatasync.
  enum class before { nothing, fileno, flushed, truncated, reopened };
  io_ring ring;
  const int fds_before = test::open_fds();
  for (const before history :
       {before::nothing, before::fileno, before::flushed, before::truncated, before::reopened}) {
    CAPTURE(static_cast<int>(history));
    test::scratch_dir dir;
    std::uint64_t submitted = 0;
    sync_wait(ring, [&]() -> task<void> {
      temporary_file file =
          co_await temporary_file::create(ring, options().dir(dir.path()).durable(true));
      if (history == before::fileno) (void)file.fileno();
      if (history == before::flushed) {
        co_await file.write(std::string_view("head "));
        co_await file.flush();
      }
      if (history == before::truncated) {
        co_await file.truncate(0);
      }
      if (history == before::reopened) {
        temporary_file other = co_await file.reopen();
        co_await other.close();
      }
      co_await file.write(payload);
      const std::uint64_t start = ring.stats().submitted;
      co_await file.link(dir / "published");
      submitted = ring.stats().submitted - start;
      co_await file.close();
    }());
    // The write (with its fdatasync unless it syncs itself), then the directory's chain.
    CHECK(submitted == (history == before::nothing ? 5u : 6u));
    CHECK(test::slurp(dir / "published") == (history == before::flushed ? "head " : "") + payload);
  }
  CHECK(test::open_fds() == fds_before);
}

namespace {

TEST_CASE("of two fresh files published durably at once, one write syncs itself and the "
          "other is followed by an fdatasync",
          "[publish][durable][linked]") {
  // io-wq runs a file's buffered writes in its inode's hash bucket, shared with unrelated
  // files: a write holding one through its sync would hold theirs up.
  io_ring ring;
  const auto publish_two = [&](bool at_once) {
    test::scratch_dir dir;
    const std::uint64_t start = ring.stats().submitted;
    std::vector<task<outcome>> publishes;
    for (int i = 0; i < 2; ++i)
      publishes.push_back(run(ring, way::link, dir.path(),
                              dir / ("published" + std::to_string(i)), payload,
                              options().durable(true)));
    if (at_once) {
      for (const outcome& result : sync_wait(ring, when_all(std::move(publishes))))
        CHECK(result.error == 0);
    } else {
      for (auto& publish : publishes) CHECK(sync_wait(ring, std::move(publish)).error == 0);
    }
    for (int i = 0; i < 2; ++i)
      CHECK(test::slurp(dir / ("published" + std::to_string(i))) == payload);
    return ring.stats().submitted - start;
  };
  const std::uint64_t one_after_the_other = publish_two(false);
  // Whether the second name joins a shared sync (the name, then open, fsync and close of
  // the directory) or has its own chain (the same four), only the fdatasync is added.
  CHECK(publish_two(true) == one_after_the_other + 1);
}

/// Pages of the file at `path` still dirty or under writeback in the page cache, by
/// cachestat(2) (Linux 6.5); nullopt where the kernel lacks it.
std::optional<std::uint64_t> unsynced_pages(const fs::path& path) {
  struct range { std::uint64_t offset, length; } whole{0, 0};  // length 0: to the end
  struct counts { std::uint64_t cache, dirty, writeback, evicted, recently_evicted; } stat{};
  constexpr long cachestat_syscall = 451;
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  REQUIRE(fd >= 0);
  const long rc = ::syscall(cachestat_syscall, fd, &whole, &stat, 0);
  ::close(fd);
  if (rc != 0) return std::nullopt;
  return stat.dirty + stat.writeback;
}

}  // namespace

TEST_CASE("the write that syncs a fresh file's data leaves none of it unwritten on disk",
          "[publish][durable]") {
  ext4_image ext4;
  if (!ext4.mounted()) {
    WARN("cannot mount an ext4 loop image here (needs root): skipped");
    return;
  }
  io_ring ring;
  const std::string data(64 << 10, 'd');
  for (const bool durable : {false, true}) {
    CAPTURE(durable);
    const fs::path target = ext4.path() / (durable ? "durable" : "not-durable");
    sync_wait(ring, [&]() -> task<void> {
      temporary_file file =
          co_await temporary_file::create(ring, options().dir(ext4.path()).durable(durable));
      co_await file.write(data);
      co_await file.link(target);
      co_await file.close();
    }());
    const std::optional<std::uint64_t> unsynced = unsynced_pages(target);
    if (!unsynced) {
      WARN("no cachestat(2) in this kernel: skipped");
      return;
    }
    if (durable)
      CHECK(*unsynced == 0);
    else
      CHECK(*unsynced > 0);  // what the check would see had nothing synced them
  }
}

namespace {

/// A durable link of `payload` at `dir`/published, decided (and, unless `busy`, made) while
/// a sync of `dir` is under way; counts the CQEs the whole run reaped.
task<outcome> publish_beside_a_sync(io_ring& ring, fs::path dir, bool busy,
                                    std::uint64_t& completed) {
  std::optional<detail::directory_sync_batches::own_sync> syncing;
  if (busy) syncing.emplace(ring.extension<detail::directory_sync_batches>(), dir.native());
  const std::uint64_t start = ring.stats().completed;
  detail::publish_trace trace;
  task<outcome> publishing =
      run(ring, way::link, dir, dir / "published", payload, options().durable(true));
  detail::task_access::start(publishing);
  while (trace.steps().empty()) co_await ring.yield();  // its chains are planned now
  syncing.reset();
  outcome done = co_await publishing;
  completed = ring.stats().completed - start;
  co_return done;
}

}  // namespace

TEST_CASE("while a sync of its directory is under way, a durable publish sends its data and its "
          "name in one chain; a failure at either leaves no name and keeps the data",
          "[publish][durable][fault]") {
  io_ring ring;
  const int fds_before = test::open_fds();
  std::uint64_t alone = 0;
  {
    test::scratch_dir dir;
    REQUIRE(sync_wait(ring, publish_beside_a_sync(ring, dir.path(), false, alone)).error == 0);
  }
  for (const char* step : {"", "write", "fdatasync", "linkat"}) {
    CAPTURE(step);
    test::scratch_dir dir;
    std::optional<injected_failure> failing;
    if (*step) failing.emplace(step, EIO);
    std::uint64_t completed = 0;
    const outcome result = sync_wait(ring, publish_beside_a_sync(ring, dir.path(), true, completed));
    failing.reset();
    CHECK(result.kept == payload);
    CHECK(test::open_fds() == fds_before);
    if (*step) {
      CHECK(result.error == EIO);
      CHECK(result.message.find(dir.path().string()) != std::string::npos);
      CHECK(fs::is_empty(dir.path()));
      continue;
    }
    CHECK(result.error == 0);
    CHECK(test::slurp(dir / "published") == payload);
    // Data and name in one chain (one CQE), the directory's sync in another (its fsync's
    // and close's): one CQE fewer than alone, where the name reports in the directory's.
    CHECK(completed == alone - 1);
  }
}

namespace {

/// A fresh file with `payload`, linked durably at `target`; its descriptor handed out first
/// if `handed_out` (its data then needs an fdatasync, and the name its own step).
task<void> link_durably(io_ring& ring, fs::path dir, fs::path target, bool handed_out) {
  temporary_file file = co_await temporary_file::create(ring, options().dir(dir).durable(true));
  if (handed_out) (void)file.fileno();
  co_await file.write(payload);
  co_await file.link(target);
}

}  // namespace

TEST_CASE("a durable link cancelled while its name waits for the directory's sync leaves no "
          "name",
          "[publish][durable][cancel]") {
  io_ring ring;
  const int fds_before = test::open_fds();
  for (const bool handed_out : {false, true}) {
    CAPTURE(handed_out);
    test::scratch_dir dir;
    const fs::path target = dir / "published";
    // The directory stays busy: the sync the name waits for cannot start.
    std::optional<detail::directory_sync_batches::own_sync> syncing(
        std::in_place, ring.extension<detail::directory_sync_batches>(), dir.path().native());
    detail::op_scope scope;
    std::optional<task<void>> publishing;
    {
      const detail::op_scope::entered in_scope(ring, scope);
      publishing.emplace(link_durably(ring, dir.path(), target, handed_out));
      detail::task_access::start(*publishing);
    }
    auto& batches = ring.extension<detail::directory_sync_batches>();
    sync_wait(ring, [&]() -> task<void> {
      while (batches.waiting(dir.path().native()) == 0) co_await ring.yield();
    }());
    REQUIRE(fs::exists(target));  // made, and waiting for its sync
    bool drained = false;
    test::flag_setter on_drained = test::set_when_resumed(drained);
    scope.cancel(ring, on_drained.handle);  // as an Asio cancellation does
    sync_wait(ring, [&]() -> task<void> {
      while (!drained) co_await ring.yield();
    }());
    publishing.reset();  // the task goes while its name waits
    scope.end(ring);
    on_drained.handle.destroy();
    syncing.reset();
    CHECK(fs::is_empty(dir.path()));
  }
  CHECK(test::open_fds() == fds_before);
}

TEST_CASE("a publish after writes behind puts the whole contents at the target, whole as soon "
          "as it has a name",
          "[publish][linked]") {
  io_ring ring;
  std::string contents;
  for (int i = 0; i < 300; ++i) contents += std::string(4096, static_cast<char>('a' + i % 26));
  contents += std::string(1000, 'z');  // about 1.2 MiB: four full buffers and a partial one
  for (const bool durable : {false, true}) {
    for (const way w : {way::link, way::persist, way::persist_noclobber}) {
      CAPTURE(name_of(w), durable);
      test::scratch_dir dir;
      auto write_publish = [&](auto& file) -> task<void> {
        for (std::size_t at = 0; at < contents.size(); at += 4096)
          co_await file.write(std::string_view(contents).substr(at, 4096));
        co_await publish(file, w, dir / "published");
        CHECK(test::slurp(dir / "published") == contents);  // whole once it has a name
        CHECK(file.tell() == static_cast<std::int64_t>(contents.size()));
        co_await file.close();
      };
      const options opts = options().dir(dir.path()).durable(durable);
      sync_wait(ring, with_file(ring, w, opts, write_publish));
      CHECK(test::slurp(dir / "published") == contents);
      CHECK(names_in(dir.path()) == std::set<std::string>{"published"});
    }
  }
}

TEST_CASE("a publish whose chained write falls short finishes the write first, and fails "
          "before any name appears when the rest cannot be written",
          "[publish][fault]") {
  // A cap on file sizes cuts the chain's write short (the kernel writes up to it), which
  // cancels the rest of the chain; writing the rest then fails with EFBIG.
  io_ring ring;
  const int fds_before = test::open_fds();
  const std::string contents(10000, 'a');
  for (const way w : {way::link, way::persist_noclobber}) {
    CAPTURE(name_of(w));
    test::scratch_dir dir;
    auto attempt = [&](auto& file) -> task<void> {
      co_await file.write(contents);  // buffered: written by the publish's chain
      {
        test::file_size_cap cap(6000);
        CHECK_THROWS_MATCHES(co_await publish(file, w, dir / "published"), std::system_error,
                             has_errno(EFBIG));
      }
      CHECK_FALSE(fs::exists(dir / "published"));
      co_await publish(file, w, dir / "published");  // the bytes were kept
      co_await file.close();
    };
    const options opts = options().dir(dir.path()).durable(true);
    sync_wait(ring, with_file(ring, w, opts, attempt));
    CHECK(test::slurp(dir / "published") == contents);
    CHECK(names_in(dir.path()) == std::set<std::string>{"published"});
  }
  CHECK(test::open_fds() == fds_before);
}

TEST_CASE("durable publishes into more directories at once than the ring has direct "
          "descriptors all sync their directory",
          "[publish][durable]") {
  // Eight direct descriptors (the smallest CQ); a directory's sync holds one while it runs:
  // the syncs beyond sync through an ordinary descriptor.
  io_ring ring(ring_options{.entries = 4, .cq_entries = 4});
  test::scratch_dir top;
  const int fds_before = test::open_fds();
  constexpr int directories = 12;
  constexpr int files = 4 * directories;
  std::vector<task<outcome>> publishes;
  for (int i = 0; i < files; ++i) {
    const fs::path dir = top / std::to_string(i % directories);
    fs::create_directories(dir);
    publishes.push_back(run(ring, way::link, dir, dir / ("published" + std::to_string(i)), payload,
                            options().durable(true)));
  }
  detail::publish_trace trace;
  for (const outcome& result : sync_wait(ring, when_all(std::move(publishes))))
    CHECK(result.error == 0);
  const auto syncs = std::count(trace.steps().begin(), trace.steps().end(), "fsync directory");
  CHECK(syncs >= directories);
  CHECK(syncs <= files);
  for (int i = 0; i < files; ++i)
    CHECK(test::slurp(top / std::to_string(i % directories) / ("published" + std::to_string(i))) ==
          payload);
  CHECK(test::open_fds() == fds_before);
}

TEST_CASE("durable publishes into one directory at once share its syncs, and each learns a "
          "failed one",
          "[publish][durable][fault]") {
  io_ring ring;
  test::scratch_dir dir;
  const int fds_before = test::open_fds();
  constexpr int files = 32;
  for (const int error : {0, EIO}) {
    CAPTURE(error);
    std::vector<task<outcome>> publishes;
    for (int i = 0; i < files; ++i)
      publishes.push_back(run(ring, i % 2 ? way::link : way::persist, dir.path(),
                              dir / ("published" + std::to_string(error) + "-" + std::to_string(i)),
                              payload, options().durable(true)));
    detail::publish_trace trace;
    if (error) detail::simulate_publish_failure("fsync directory", error);
    const std::vector<outcome> results = sync_wait(ring, when_all(std::move(publishes)));
    detail::simulate_publish_failure("", 0);
    for (const outcome& result : results) {
      CHECK(result.error == error);
      if (error) CHECK(result.message.find("fsync " + dir.path().string()) != std::string::npos);
      CHECK(result.kept == payload);
    }
    const auto syncs = std::count(trace.steps().begin(), trace.steps().end(), "fsync directory");
    CHECK(syncs >= 1);
    CHECK(syncs < files);  // they started together: all but the first share
    for (int i = 0; i < files; ++i)
      CHECK(test::slurp(dir / ("published" + std::to_string(error) + "-" + std::to_string(i))) ==
            payload);
  }
  CHECK(names_in(dir.path()).size() == 2 * files);
  CHECK(test::open_fds() == fds_before);
}

TEST_CASE("publishing across filesystems copies through the ring, keeps the mode, stays atomic",
          "[publish][exdev]") {
  test::tiny_tmpfs tmpfs("16m");
  ext4_image ext4;
  if (!tmpfs.mounted() || !ext4.mounted()) {
    WARN("cannot mount a tmpfs and an ext4 loop image here (needs root): skipped");
    return;
  }
  io_ring ring;
  const std::pair<fs::path, fs::path> directions[] = {{tmpfs.path(), ext4.path()},
                                                      {ext4.path(), tmpfs.path()}};
  for (const auto& [from_fs, to_fs] : directions) {
    const fs::path from = from_fs / "from";
    const fs::path to = to_fs / "to";
    for (const way w : all_ways) {
      CAPTURE(from, to, name_of(w));
      fs::create_directory(from);
      fs::create_directory(to);
      const std::string big(3 << 20, 'q');  // several copy pieces
      detail::publish_trace trace;
      const outcome result = sync_wait(
          ring, run(ring, w, from, to / "published", big, options().permissions(0640).durable(true)));
      CHECK(result.error == 0);
      CHECK(result.kept == big);
      CHECK(test::slurp(to / "published") == big);
      CHECK(mode_of(to / "published") == 0640);
      CHECK(names_in(to) == std::set<std::string>{"published"});
      CHECK(fs::is_empty(from));  // a moved name is gone from the source
      const auto& steps = trace.steps();
      const bool copied = std::find(steps.begin(), steps.end(), "copy") != steps.end();
      CHECK(copied == copies(w));
      const auto named_at = std::find_if(steps.rbegin(), steps.rend(), [](const std::string& step) {
        return step == "linkat" || step == "renameat";
      });
      CHECK(std::find(steps.rbegin(), named_at, "fsync directory") != named_at);  // synced after
      fs::remove_all(from);
      fs::remove_all(to);
    }
  }
}

TEST_CASE("across filesystems a taken target is still refused, and persist follows the copy",
          "[publish][exdev]") {
  TEST_TINY_TMPFS_OR_SKIP(tmpfs, "16m");
  test::scratch_dir dir;
  io_ring ring;
  write_file(tmpfs.path() / "taken", "old contents");
  for (const way w : {way::link, way::persist_noclobber}) {
    CAPTURE(name_of(w));
    const outcome result = sync_wait(ring, run(ring, w, dir.path(), tmpfs.path() / "taken", payload));
    CHECK(result.error == EEXIST);
    CHECK(result.kept == payload);
    CHECK(test::slurp(tmpfs.path() / "taken") == "old contents");
    CHECK(names_in(tmpfs.path()) == std::set<std::string>{"taken"});
  }
  auto body = [&]() -> task<void> {
    named_temporary_file file = co_await named_temporary_file::create(ring, options().dir(dir.path()));
    co_await file.write("first ");
    co_await file.persist(tmpfs.path() / "moved");
    CHECK(file.name() == tmpfs.path() / "moved");
    co_await file.write("second");  // reaches the published copy
    co_await file.close();
  };
  sync_wait(ring, body());
  CHECK(test::slurp(tmpfs.path() / "moved") == "first second");
  CHECK(dir.entries() == 0);
}

TEST_CASE("ENOSPC while copying across filesystems leaves the target empty and the data kept",
          "[publish][fault][enospc]") {
  TEST_TINY_TMPFS_OR_SKIP(tiny, "256k");
  test::scratch_dir dir;
  io_ring ring;
  const std::string big(1 << 20, 'b');
  const fs::path target = tiny.path() / "published";
  for (const way w : all_ways) {
    CAPTURE(name_of(w));
    const outcome result =
        sync_wait(ring, run(ring, w, dir.path(), target, big, options().durable(true)));
    CAPTURE(result.message);
    CHECK(result.error == ENOSPC);
    // A copy names its target, and its source when named; a spool in memory names the
    // target's directory, where it writes.
    CHECK(result.message.find((copies(w) ? target : tiny.path()).string()) != std::string::npos);
    if (renames(w)) CHECK(result.message.find(dir.path().string()) != std::string::npos);
    CHECK(result.kept == big);
    CHECK(fs::is_empty(tiny.path()));
    CHECK(tiny.empty());
    CHECK(dir.entries() == 0);
  }
}

TEST_CASE("a file its owner may not read is copied across filesystems all the same",
          "[publish][exdev][permissions]") {
  TEST_TINY_TMPFS_OR_SKIP(tmpfs, "16m");
  test::scratch_dir dir;
  fs::permissions(dir.path(), fs::perms::all);  // for nobody too
  fs::permissions(tmpfs.path().parent_path(), fs::perms::all);
  fs::permissions(tmpfs.path(), fs::perms::all);
  const fs::path target = tmpfs.path() / "published";
  for (const way w :
       {way::link, way::replace, way::rolled_replace, way::persist, way::persist_noclobber}) {
    CAPTURE(name_of(w));
    test::check_unprivileged([&]() -> std::string {
      io_ring ring;
      const outcome result =
          sync_wait(ring, run(ring, w, dir.path(), target, payload, options().permissions(0200)));
      return result.error == 0 ? "" : result.message;
    });
    CHECK(test::slurp(target) == payload);
    CHECK(mode_of(target) == 0200);
    fs::remove(target);
  }
}

TEST_CASE("a durable publish across filesystems syncs the copy only", "[publish][durable][exdev]") {
  TEST_TINY_TMPFS_OR_SKIP(tmpfs, "16m");
  test::scratch_dir dir;
  io_ring ring;
  const fs::path target = tmpfs.path() / "published";
  for (const way w : all_ways) {
    if (!copies(w)) continue;
    CAPTURE(name_of(w));
    std::vector<std::string> steps;
    {
      detail::publish_trace trace;
      const outcome result =
          sync_wait(ring, run(ring, w, dir.path(), target, payload, options().durable(true)));
      CHECK(result.error == 0);
      steps = trace.steps();
    }
    CAPTURE(steps);
    const auto copy = std::find(steps.begin(), steps.end(), "copy");
    REQUIRE(copy != steps.end());
    CHECK(std::find(steps.begin(), copy, "fdatasync") == copy);  // the source is not synced
    CHECK(std::count(copy, steps.end(), "fdatasync") == 1);
    CHECK(test::slurp(target) == payload);
    fs::remove(target);
  }
}

namespace {

/// While alive, durable publishes sync only where a sync does something, as outside the
/// tests (see test::every_filesystem_syncs).
class syncs_only_where_they_matter {
 public:
  syncs_only_where_they_matter() { detail::sync_on_every_filesystem(false); }
  ~syncs_only_where_they_matter() { detail::sync_on_every_filesystem(true); }
  syncs_only_where_they_matter(const syncs_only_where_they_matter&) = delete;
  syncs_only_where_they_matter& operator=(const syncs_only_where_they_matter&) = delete;
};

bool syncs_in(const std::vector<std::string>& steps) {
  return std::count(steps.begin(), steps.end(), "fdatasync") +
             std::count(steps.begin(), steps.end(), "fsync directory") >
         0;
}

}  // namespace

TEST_CASE("a durable publish on tmpfs, whose fsync does nothing, issues no sync; a copy from "
          "there onto ext4 is synced",
          "[publish][durable][tmpfs]") {
  TEST_TINY_TMPFS_OR_SKIP(tmpfs, "16m");
  const syncs_only_where_they_matter real_filesystems;
  io_ring ring;
  const int fds_before = test::open_fds();
  for (const way w : all_ways) {
    CAPTURE(name_of(w));
    const fs::path dir = tmpfs.path() / "in";
    fs::create_directory(dir);
    detail::publish_trace trace;
    const outcome result =
        sync_wait(ring, run(ring, w, dir, dir / "published", payload, options().durable(true)));
    CHECK(result.error == 0);
    CHECK(result.kept == payload);
    CAPTURE(trace.steps());
    CHECK_FALSE(syncs_in(trace.steps()));
    CHECK(test::slurp(dir / "published") == payload);
    CHECK(names_in(dir) == std::set<std::string>{"published"});
    fs::remove_all(dir);
  }
  ext4_image ext4;
  if (!ext4.mounted()) {
    WARN("cannot mount an ext4 loop image here (needs root): the copy onto it skipped");
    return;
  }
  for (const way w : all_ways) {
    if (!copies(w)) continue;
    CAPTURE(name_of(w));
    const fs::path from = tmpfs.path() / "from";
    fs::create_directory(from);
    const fs::path target = ext4.path() / "published";
    detail::publish_trace trace;
    const outcome result =
        sync_wait(ring, run(ring, w, from, target, payload, options().durable(true)));
    CHECK(result.error == 0);
    const auto& steps = trace.steps();
    CAPTURE(steps);
    const auto copy = std::find(steps.begin(), steps.end(), "copy");
    REQUIRE(copy != steps.end());
    CHECK(std::count(copy, steps.end(), "fdatasync") == 1);
    CHECK(std::count(copy, steps.end(), "fsync directory") == 1);
    CHECK(test::slurp(target) == payload);
    fs::remove(target);
    fs::remove_all(from);
  }
  CHECK(test::open_fds() == fds_before);
}

TEST_CASE("a mount made where a tmpfs was unmounted is synced: what is known of one mount is "
          "never taken for the next",
          "[publish][durable][tmpfs]") {
  ext4_image ext4;
  if (!ext4.mounted()) {
    WARN("cannot mount an ext4 loop image here (needs root): skipped");
    return;
  }
  const syncs_only_where_they_matter real_filesystems;
  test::scratch_dir where;
  io_ring ring;
  auto durable_link_syncs = [&](int round) {
    detail::publish_trace trace;
    const fs::path target = where / ("published" + std::to_string(round));
    const outcome result =
        sync_wait(ring, run(ring, way::link, where.path(), target, payload, options().durable(true)));
    CHECK(result.error == 0);
    CHECK(test::slurp(target) == payload);
    return syncs_in(trace.steps());
  };
  for (int round = 0; round < 4; ++round) {
    CAPTURE(round);
    REQUIRE(::mount("tmpfs", where.path().c_str(), "tmpfs", 0, "size=1m") == 0);
    CHECK_FALSE(durable_link_syncs(round));
    REQUIRE(::umount2(where.path().c_str(), 0) == 0);
    // A new mount of the image, likely under the number the tmpfs mount just freed.
    REQUIRE(::mount(ext4.path().c_str(), where.path().c_str(), "none", MS_BIND, nullptr) == 0);
    CHECK(durable_link_syncs(round));
    REQUIRE(::umount2(where.path().c_str(), 0) == 0);
  }
}

TEST_CASE("a read-only target file system refuses every publish and keeps the data",
          "[publish][fault]") {
  TEST_TINY_TMPFS_OR_SKIP(readonly, "1m");
  REQUIRE(::mount("tmpfs", readonly.path().c_str(), "tmpfs", MS_REMOUNT | MS_RDONLY, nullptr) == 0);
  test::scratch_dir dir;
  io_ring ring;
  for (const way w : all_ways) {
    CAPTURE(name_of(w));
    const outcome result =
        sync_wait(ring, run(ring, w, dir.path(), readonly.path() / "published", payload));
    CHECK(result.error == EROFS);
    CHECK(result.kept == payload);
    CHECK(fs::is_empty(readonly.path()));
    CHECK(dir.entries() == 0);
  }
}

TEST_CASE("permissions are exact whatever the umask", "[publish][permissions]") {
  for (const mode_t mask : {mode_t{0}, mode_t{077}}) {
    CAPTURE(mask);
    test::umask_guard umask(mask);
    test::scratch_dir dir;
    io_ring ring;
    auto body = [&]() -> task<void> {
      for (const mode_t mode : {mode_t{0640}, mode_t{0604}, mode_t{0755}}) {
        CAPTURE(mode);
        const options opts = options().dir(dir.path()).permissions(mode);
        temporary_file unnamed = co_await temporary_file::create(ring, opts);
        CHECK(mode_of(unnamed.fileno()) == mode);
        named_temporary_file named = co_await named_temporary_file::create(ring, opts);
        CHECK(mode_of(named.name()) == mode);
        spooled_temporary_file spooled(ring, opts);
        const int spooled_fd = co_await spooled.fileno();
        CHECK(mode_of(spooled_fd) == mode);
        created_file made = co_await mkstemp(ring, opts);
        CHECK(mode_of(made.path) == mode);
        fs::remove(made.path);
        const fs::path made_dir = co_await mkdtemp(ring, opts);
        CHECK(mode_of(made_dir) == mode);
        fs::remove(made_dir);
        temporary_directory tree = co_await temporary_directory::create(ring, opts);
        CHECK(mode_of(tree.path()) == mode);
        co_await tree.cleanup();
        co_await unnamed.close();
        co_await named.close();
        co_await spooled.close();
      }
      // Unset: Python's 0600 and 0700.
      temporary_file unnamed = co_await temporary_file::create(ring, options().dir(dir.path()));
      CHECK(mode_of(unnamed.fileno()) == 0600);
      temporary_directory tree = co_await temporary_directory::create(ring, options().dir(dir.path()));
      CHECK(mode_of(tree.path()) == 0700);
      co_await tree.cleanup();
      co_await unnamed.close();
    };
    sync_wait(ring, body());
    CHECK(dir.entries() == 0);
  }
}

TEST_CASE("permissions apply to unnamed files taken from the ring's reserve too",
          "[publish][permissions]") {
  test::umask_guard umask(077);
  test::scratch_dir dir;
  ring_options with_reserve;
  with_reserve.unnamed_file_reserve = 4;
  io_ring ring(with_reserve);
  auto body = [&]() -> task<void> {
    for (int i = 0; i < 6; ++i) {  // the first opens on demand, the rest come from the reserve
      temporary_file file =
          co_await temporary_file::create(ring, options().dir(dir.path()).permissions(0644));
      CHECK(mode_of(file.fileno()) == 0644);
      co_await file.close();
    }
  };
  sync_wait(ring, body());
}

TEST_CASE("reopen gives a second handle on the same file with its own position",
          "[publish][reopen]") {
  test::scratch_dir dir;
  io_ring ring;
  auto body = [&]() -> task<void> {
    temporary_file file = co_await temporary_file::create(ring, options().dir(dir.path()));
    co_await file.write("hello world");  // still buffered: reopen flushes it
    temporary_file other = co_await file.reopen();
    CHECK(other.tell() == 0);
    const std::string start = co_await other.read(5);
    CHECK(start == "hello");
    CHECK(file.tell() == 11);
    other.seek(6);
    co_await other.write("WORLD");
    co_await other.flush();
    file.seek(0);
    const std::string seen = co_await file.read();
    CHECK(seen == "hello WORLD");
    CHECK(other.tell() == 11);
    co_await other.close();
    CHECK_FALSE(file.closed());
    co_await file.close();
  };
  sync_wait(ring, body());
  CHECK(dir.entries() == 0);
}

TEST_CASE("a reopened named file never deletes the name", "[publish][reopen]") {
  test::scratch_dir dir;
  io_ring ring;
  auto body = [&]() -> task<void> {
    named_temporary_file file = co_await named_temporary_file::create(ring, options().dir(dir.path()));
    co_await file.write("abc");
    named_temporary_file other = co_await file.reopen();
    CHECK(other.name() == file.name());
    const std::string seen = co_await other.read();
    CHECK(seen == "abc");
    co_await other.write("def");
    co_await other.close();
    CHECK(fs::exists(file.name()));  // the reopened handle left it
    file.seek(0, SEEK_END);
    CHECK(file.tell() == 6);  // sees the other handle's write
    co_await file.close();    // delete_on_close: the original removes it
    CHECK_FALSE(fs::exists(file.name()));
  };
  sync_wait(ring, body());
  CHECK(dir.entries() == 0);
}

TEST_CASE("reopen without /proc says that /proc is not mounted", "[publish][reopen]") {
  test::check_without_proc([](std::string& report) {
    try {
      io_ring ring;
      sync_wait(ring, [](io_ring& r) -> task<void> {
        temporary_file file = co_await temporary_file::create(r);
        temporary_file other = co_await file.reopen();
      }(ring));
    } catch (const std::system_error& e) {
      report = e.what();
      return e.code().value() == ENOENT && report.find("/proc is not mounted") != std::string::npos ? 0 : 1;
    }
    return (report = "reopened without /proc"), 2;
  });
}

TEST_CASE("a publish destroyed in flight leaves no fresh name, and the target whole",
          "[publish][lifetime]") {
  test::scratch_dir dir;
  io_ring ring;
  const fs::path target = dir / "published";
  write_file(target, "old contents");
  auto file = sync_wait(ring, temporary_file::create(ring, options().dir(dir.path()).buffering(0)));
  sync_wait(ring, file.write(payload));
  auto turn = [&]() -> task<void> { co_await ring.yield(); };
  // Each publish dies before it starts, with a link or rename in flight, or finished.
  auto abandon = [&](auto publish) {
    for (int i = 0; i < 100; ++i) {
      auto publishing = publish();
      detail::task_access::start(publishing);
      for (int turns = 0; turns < i % 4; ++turns) sync_wait(ring, turn());
    }
  };
  abandon([&] { return file.replace(target); });
  abandon([&] { return file.link(dir / "linked"); });
  for (const std::string& name : names_in(dir.path())) {
    CAPTURE(name);
    CHECK((name == "published" || name == "linked"));
  }
  const std::string now = test::slurp(target);
  CHECK((now == "old contents" || now == payload));
  if (fs::exists(dir / "linked")) CHECK(test::slurp(dir / "linked") == payload);
}
