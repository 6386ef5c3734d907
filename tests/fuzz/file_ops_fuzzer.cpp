// libFuzzer target: the input bytes decode into a sequence of file-protocol calls, applied
// to a spooled_temporary_file and to a temporary_file; every result, position and error
// must match an in-memory reference with Python's semantics. Any mismatch, unexpected
// exception, descriptor growth or file left behind aborts, so libFuzzer reports it.

#include <dirent.h>
#include <stdlib.h>

#include <tempfile/tempfile.hpp>

#include <cerrno>
#include <climits>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <exception>
#include <filesystem>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <system_error>
#include <type_traits>
#include <vector>

using namespace tempfile;

namespace {

// ---------------------------------------------------------------------------------------
// Decoding the input

/// Hands out the input's bytes in order; zeros once they run out, so every input decodes.
class byte_reader {
 public:
  explicit byte_reader(std::span<const std::uint8_t> bytes) : bytes_(bytes) {}
  bool empty() const { return next_ == bytes_.size(); }
  std::uint8_t u8() { return empty() ? 0 : bytes_[next_++]; }
  std::uint16_t u16() { return static_cast<std::uint16_t>(u8() | u8() << 8); }
  std::int16_t i16() { return static_cast<std::int16_t>(u16()); }
  std::int32_t i32() { return static_cast<std::int32_t>(u16() | std::uint32_t{u16()} << 16); }

 private:
  std::span<const std::uint8_t> bytes_;
  std::size_t next_ = 0;
};

struct file_config {
  const char* mode;      // "w+b" or "a+b"
  std::size_t max_size;  // spooled_temporary_file
  long buffering;        // temporary_file
};

file_config decode_config(byte_reader& in) {
  const std::uint8_t shape = in.u8();
  file_config config{shape & 0x80 ? "a+b" : "w+b", 0, -1};
  switch (shape & 3) {
    case 0: config.max_size = 0; break;  // never rolls over by size
    case 1: config.max_size = 1 + in.u8() % 64; break;
    case 2: config.max_size = in.u16(); break;
    case 3: config.max_size = default_buffer_size; break;
  }
  switch (in.u8() % 5) {
    case 0: config.buffering = 0; break;
    case 1: config.buffering = 1 + in.u8() % 7; break;
    case 2: config.buffering = -1; break;
    case 3: config.buffering = 8 + in.u16() % 8192; break;
    case 4: config.buffering = 1 << 20; break;
  }
  return config;
}

enum class op_kind : std::uint8_t {
  write, read, readinto, readline, readlines, seek, truncate, flush, to_disk, writelines, close,
  count
};

/// One decoded call. `amount` is the byte count, limit, offset or size the call takes.
struct operation {
  op_kind kind = op_kind::flush;
  std::int64_t amount = 0;
  int whence = SEEK_SET;
  bool use_default = false;           // read(-1), truncate(), to_disk via fileno()
  std::vector<std::string> payload;   // write: one element; writelines: any number
};

/// Lines of `length` bytes ending in '\n' every few bytes, so readline has work to do.
std::string make_bytes(std::size_t length, std::uint8_t seed) {
  std::string bytes(length, '\0');
  const std::size_t line_length = 1 + seed % 64;
  for (std::size_t i = 0; i < length; ++i)
    bytes[i] = i % line_length == line_length - 1 ? '\n' : static_cast<char>('a' + (seed + i) % 26);
  return bytes;
}

/// Mostly under 4 KiB; one value in sixteen up to 288 KiB, past the default buffer size.
std::size_t decode_length(byte_reader& in) {
  const std::uint16_t raw = in.u16();
  return raw >= 0xf000 ? std::size_t{raw & 0x0fffu} * 72 : raw % 4096;
}

std::int64_t decode_offset(byte_reader& in) {
  switch (in.u8() % 8) {
    case 5: return in.i32() % (1 << 21);
    case 6: return INT64_MAX;
    case 7: return INT64_MIN;
    default: return in.i16();
  }
}

constexpr int whences[] = {SEEK_SET, SEEK_CUR, SEEK_END, SEEK_CUR, SEEK_DATA, SEEK_HOLE, -1, INT_MAX};

operation decode_operation(byte_reader& in) {
  operation op;
  op.kind = static_cast<op_kind>(in.u8() % static_cast<unsigned>(op_kind::count));
  switch (op.kind) {
    case op_kind::write: {
      const std::size_t length = decode_length(in);
      op.payload.push_back(make_bytes(length, in.u8()));
      break;
    }
    case op_kind::read:
      op.use_default = in.u8() % 8 == 0;
      op.amount = static_cast<std::int64_t>(decode_length(in));
      break;
    case op_kind::readinto: op.amount = static_cast<std::int64_t>(decode_length(in)); break;
    case op_kind::readline: {
      const std::int16_t limit = in.i16();
      op.amount = limit < 0 ? -1 : limit % 1024;
      break;
    }
    case op_kind::seek:
      op.whence = whences[in.u8() % std::size(whences)];
      op.amount = decode_offset(in);
      break;
    case op_kind::truncate:
      switch (in.u8() % 4) {
        case 0: op.use_default = true; break;
        case 1: op.amount = in.u16(); break;
        case 2: op.amount = -1 - in.u8(); break;
        case 3: op.amount = std::int64_t{in.u8()} * 4096; break;
      }
      break;
    case op_kind::to_disk: op.use_default = in.u8() & 1; break;
    case op_kind::writelines:
      for (int lines = in.u8() % 5; lines > 0; --lines) {
        const std::size_t length = in.u8();
        op.payload.push_back(make_bytes(length, in.u8()));
      }
      break;
    case op_kind::readlines:
    case op_kind::flush:
    case op_kind::close:
    case op_kind::count: break;
  }
  return op;
}

std::vector<operation> decode_operations(byte_reader& in) {
  std::vector<operation> ops;
  while (!in.empty()) ops.push_back(decode_operation(in));
  return ops;
}

std::string describe(const operation& op) {
  const auto n = std::to_string(op.amount);
  auto line_sizes = [&] {
    std::string out = "[";
    for (const auto& line : op.payload) out += (out.size() > 1 ? ", " : "") + std::to_string(line.size());
    return out + "]";
  };
  switch (op.kind) {
    case op_kind::write: return "write(" + std::to_string(op.payload.front().size()) + " bytes)";
    case op_kind::read: return op.use_default ? "read(-1)" : "read(" + n + ")";
    case op_kind::readinto: return "readinto(" + n + "-byte buffer)";
    case op_kind::readline: return "readline(" + n + ")";
    case op_kind::readlines: return "readlines()";
    case op_kind::seek: return "seek(" + n + ", whence " + std::to_string(op.whence) + ")";
    case op_kind::truncate: return op.use_default ? "truncate()" : "truncate(" + n + ")";
    case op_kind::flush: return "flush()";
    case op_kind::to_disk: return op.use_default ? "fileno()" : "rollover()";
    case op_kind::writelines: return "writelines(lines of " + line_sizes() + " bytes)";
    case op_kind::close: return "close()";
    case op_kind::count: break;
  }
  return "?";
}

// ---------------------------------------------------------------------------------------
// The reference: Python's file semantics over a string

/// Writes and truncates never take the reference past this size, so an input cannot make
/// an iteration allocate without bound; calls that would are skipped on both sides.
constexpr std::int64_t size_cap = 1 << 20;
/// readlines() runs only with at most this much left to read: a megabyte of "\n" would
/// make a million strings on each side.
constexpr std::int64_t readlines_cap = 64 << 10;

/// A std::string and a position behaving as Python's file object does. Each call returns
/// the errno the library must throw (0: none) and changes the state only on success.
class reference_file {
 public:
  explicit reference_file(bool append) : append_(append) {}

  std::int64_t pos() const { return pos_; }
  std::int64_t size() const { return static_cast<std::int64_t>(data_.size()); }
  bool closed() const { return closed_; }
  const std::string& contents() const { return data_; }
  int open_check() const { return closed_ ? EBADF : 0; }

  /// Where a write of `length` bytes starts.
  std::int64_t write_position(std::size_t length) const {
    return append_ && length > 0 ? size() : pos_;
  }

  int write(std::string_view bytes) {
    if (closed_) return EBADF;
    if (bytes.empty()) return 0;  // moves nothing, not even the end past a seek
    pos_ = write_position(bytes.size());
    const auto at = static_cast<std::size_t>(pos_);
    if (at > data_.size()) data_.resize(at, '\0');  // a gap reads as zeros
    data_.replace(at, std::min(bytes.size(), data_.size() - at), bytes);
    pos_ += static_cast<std::int64_t>(bytes.size());
    return 0;
  }

  int read(std::int64_t n, std::string& out) {
    if (closed_) return EBADF;
    out = rest(n);
    pos_ += static_cast<std::int64_t>(out.size());
    return 0;
  }

  int readline(std::int64_t limit, std::string& out) {
    if (closed_) return EBADF;
    out = rest(-1);
    const std::size_t newline = out.find('\n');
    if (newline != std::string::npos) out.resize(newline + 1);
    if (limit >= 0 && out.size() > static_cast<std::size_t>(limit)) out.resize(static_cast<std::size_t>(limit));
    pos_ += static_cast<std::int64_t>(out.size());
    return 0;
  }

  int seek(std::int64_t offset, int whence) {
    if (closed_) return EBADF;
    std::int64_t base;
    switch (whence) {
      case SEEK_SET: base = 0; break;
      case SEEK_CUR: base = pos_; break;
      case SEEK_END: base = size(); break;
      default: return EINVAL;
    }
    std::int64_t target;
    if (__builtin_add_overflow(base, offset, &target)) return EOVERFLOW;
    if (target < 0) return EINVAL;
    pos_ = target;
    return 0;
  }

  int truncate(std::int64_t size) {
    if (closed_) return EBADF;
    if (size < 0) return EINVAL;
    data_.resize(static_cast<std::size_t>(size), '\0');  // the position stays
    return 0;
  }

  void close() { closed_ = true; }

 private:
  std::string rest(std::int64_t n) const {
    if (pos_ >= size()) return {};
    const auto from = static_cast<std::size_t>(pos_);
    return data_.substr(from, n < 0 ? std::string::npos : static_cast<std::size_t>(n));
  }

  std::string data_;
  std::int64_t pos_ = 0;
  bool closed_ = false;
  bool append_;
};

// ---------------------------------------------------------------------------------------
// Running a sequence against a library file

/// What went wrong, with the sequence that led there, then abort() for libFuzzer.
[[noreturn]] void mismatch(const char* file_type, const file_config& config,
                           const std::vector<operation>& ops, std::size_t failed,
                           const std::string& what) {
  std::fprintf(stderr, "\n%s (mode %s, max_size %zu, buffering %ld):\n", file_type, config.mode,
               config.max_size, config.buffering);
  for (std::size_t i = 0; i <= failed && i < ops.size(); ++i)
    std::fprintf(stderr, "  %3zu %s\n", i, describe(ops[i]).c_str());
  std::fprintf(stderr, "MISMATCH at step %zu: %s\n", failed, what.c_str());
  std::abort();
}

/// The errno of the std::system_error that awaiting `call()` throws, or 0. Any other
/// exception escapes (and aborts the run).
template <class Call>
task<int> error_of(Call call) {
  int error = 0;
  try {
    co_await call();
  } catch (const std::system_error& e) {
    error = e.code().category() == std::generic_category() ? e.code().value() : -1;
  }
  co_return error;
}

template <class Call>
int error_of_now(Call call) {
  try {
    call();
  } catch (const std::system_error& e) {
    return e.code().category() == std::generic_category() ? e.code().value() : -1;
  }
  return 0;
}

/// Whether `size` exceeds a spooled file's `max_size` (0: no limit).
bool past_max(const file_config& config, std::int64_t size) {
  return config.max_size != 0 && size > static_cast<std::int64_t>(config.max_size);
}

template <class File>
class sequence_check {
 public:
  sequence_check(File& file, const char* file_type, const file_config& config,
                 const std::vector<operation>& ops)
      : file_(file), file_type_(file_type), config_(config), ops_(ops),
        model_(std::string_view(config.mode) == "a+b") {}

  task<void> run() {
    for (step_ = 0; step_ < ops_.size(); ++step_) {
      co_await apply(ops_[step_]);
      check_state();
    }
    if (!model_.closed()) co_await check_contents();
    co_await file_.close();
    if (!file_.closed()) fail("closed() is false after close()");
  }

 private:
  static constexpr bool spooled = std::is_same_v<File, spooled_temporary_file>;

  [[noreturn]] void fail(const std::string& what) const {
    mismatch(file_type_, config_, ops_, step_, what);
  }

  void expect_error(const char* call, int expected, int got) const {
    if (expected == got) return;
    // Python raises OverflowError here; either errno is a faithful translation.
    if (expected == EOVERFLOW && got == EINVAL) return;
    fail(std::string(call) + ": expected errno " + std::to_string(expected) + " (" +
         std::strerror(expected) + "), got " + std::to_string(got) +
         (got > 0 ? std::string(" (") + std::strerror(got) + ")" : std::string()));
  }

  template <class T>
  void expect_equal(const char* what, const T& expected, const T& got) const {
    if (expected == got) return;
    if constexpr (std::is_same_v<T, std::string>)
      fail(std::string(what) + ": expected " + std::to_string(expected.size()) + " bytes, got " +
           std::to_string(got.size()) + (expected.size() == got.size() ? " (contents differ)" : ""));
    else
      fail(std::string(what) + ": expected " + std::to_string(expected) + ", got " + std::to_string(got));
  }

  void roll_over_if(bool cause) {
    if (cause) expect_rolled_ = true;
  }

  task<void> apply(const operation& op) {
    switch (op.kind) {
      case op_kind::write: co_await write(op.payload.front()); break;
      case op_kind::writelines: co_await writelines(op.payload); break;
      case op_kind::read: co_await read_string(false, op.use_default ? -1 : op.amount); break;
      case op_kind::readinto: co_await readinto(static_cast<std::size_t>(op.amount)); break;
      case op_kind::readline: co_await read_string(true, op.amount); break;
      case op_kind::readlines: co_await readlines(); break;
      case op_kind::seek: seek(op.amount, op.whence); break;
      case op_kind::truncate:
        co_await truncate(op.use_default ? std::nullopt : std::optional(op.amount));
        break;
      case op_kind::flush: {
        const int error = co_await error_of([&] { return file_.flush(); });
        expect_error("flush", model_.open_check(), error);
        break;
      }
      case op_kind::to_disk: co_await to_disk(op.use_default); break;
      case op_kind::close: {
        const int error = co_await error_of([&] { return file_.close(); });
        expect_error("close", 0, error);
        model_.close();
        break;
      }
      case op_kind::count: break;
    }
  }

  bool beyond_cap(std::size_t length) const {
    return length > 0 && model_.write_position(length) > size_cap - static_cast<std::int64_t>(length);
  }

  task<void> write(const std::string& bytes) {
    if (!model_.closed() && beyond_cap(bytes.size())) co_return;
    std::size_t written = 0;
    const int error = co_await error_of([&]() -> task<void> { written = co_await file_.write(bytes); });
    const int expected = model_.write(bytes);
    expect_error("write", expected, error);
    if (expected) co_return;
    expect_equal("write's count", bytes.size(), written);
    roll_over_if(past_max(config_, model_.pos()));
  }

  task<void> writelines(const std::vector<std::string>& lines) {
    if (!model_.closed()) {
      std::size_t total = 0;
      for (const auto& line : lines) total += line.size();
      if (beyond_cap(total)) co_return;
    }
    const int error = co_await error_of([&] { return file_.writelines(lines); });
    int expected = model_.open_check();
    for (const auto& line : lines)
      if (!expected) expected = model_.write(line);
    expect_error("writelines", expected, error);
    if (!expected) roll_over_if(past_max(config_, model_.pos()));
  }

  bool reads_beyond_cap() const { return !model_.closed() && model_.pos() > size_cap; }

  /// read(n) or readline(limit): the bytes must be the reference's.
  task<void> read_string(bool line, std::int64_t amount) {
    if (reads_beyond_cap()) co_return;
    std::string got;
    const int error = co_await error_of([&]() -> task<void> {
      if (line)
        got = co_await file_.readline(amount);
      else
        got = co_await file_.read(amount);
    });
    std::string expected;
    const int expected_error = line ? model_.readline(amount, expected) : model_.read(amount, expected);
    expect_error(line ? "readline" : "read", expected_error, error);
    expect_equal(line ? "readline's bytes" : "read's bytes", expected, got);
  }

  task<void> readinto(std::size_t length) {
    if (reads_beyond_cap()) co_return;
    std::string buffer(length, '\x55');
    std::size_t count = 0;
    const int error = co_await error_of([&]() -> task<void> {
      count = co_await file_.read(std::as_writable_bytes(std::span(buffer)));
    });
    std::string expected;
    expect_error("readinto", model_.read(static_cast<std::int64_t>(length), expected), error);
    expect_equal("readinto's count", expected.size(), count);
    expect_equal("readinto's bytes", expected, buffer.substr(0, count));
  }

  task<void> readlines() {
    if (reads_beyond_cap() || (!model_.closed() && model_.size() - model_.pos() > readlines_cap))
      co_return;
    std::vector<std::string> got;
    const int error = co_await error_of([&]() -> task<void> { got = co_await file_.readlines(); });
    std::vector<std::string> expected;
    int expected_error = 0;
    for (std::string line; !expected_error;) {
      expected_error = model_.readline(-1, line);
      if (line.empty()) break;
      expected.push_back(line);
    }
    expect_error("readlines", expected_error, error);
    expect_equal("readlines' line count", expected.size(), got.size());
    for (std::size_t i = 0; i < got.size(); ++i) expect_equal("readlines' line", expected[i], got[i]);
  }

  void seek(std::int64_t offset, int whence) {
    std::int64_t got = 0;
    const int error = error_of_now([&] { got = file_.seek(offset, whence); });
    const int expected = model_.seek(offset, whence);
    expect_error("seek", expected, error);
    if (!expected) expect_equal("seek's result", model_.pos(), got);
  }

  task<void> truncate(std::optional<std::int64_t> size) {
    const std::int64_t new_size = size.value_or(model_.pos());
    if (!model_.closed() && new_size > size_cap) co_return;
    std::int64_t got = 0;
    const int error = co_await error_of([&]() -> task<void> { got = co_await file_.truncate(size); });
    const int expected = model_.truncate(new_size);
    expect_error("truncate", expected, error);
    if (expected) co_return;
    expect_equal("truncate's result", new_size, got);
    roll_over_if(past_max(config_, new_size));
  }

  /// spooled: rollover() or fileno(); temporary_file: fileno().
  task<void> to_disk(bool via_fileno) {
    int fd = 0;
    int error;
    if constexpr (spooled) {
      error = via_fileno ? co_await error_of([&]() -> task<void> { fd = co_await file_.fileno(); })
                         : co_await error_of([&] { return file_.rollover(); });
    } else {
      error = error_of_now([&] { fd = file_.fileno(); });
    }
    const int expected = model_.open_check();
    expect_error(via_fileno || !spooled ? "fileno" : "rollover", expected, error);
    if (expected) co_return;
    if (fd < 0) fail("fileno returned " + std::to_string(fd));
    roll_over_if(true);
  }

  /// After every call: the position, the end, closed() and (spooled) rolled_over() agree.
  void check_state() {
    if (file_.closed() != model_.closed()) fail("closed() disagrees");
    if constexpr (spooled)
      if (!model_.closed() && file_.rolled_over() != expect_rolled_)
        fail(std::string("rolled_over() is ") + (file_.rolled_over() ? "true" : "false"));
    if (model_.closed()) {
      expect_error("tell", EBADF, error_of_now([&] { (void)file_.tell(); }));
      return;
    }
    expect_equal("tell", model_.pos(), file_.tell());
    expect_equal("seek(0, SEEK_END)", model_.size(), file_.seek(0, SEEK_END));
    file_.seek(model_.pos());
  }

  task<void> check_contents() {
    file_.seek(0);
    const std::string contents = co_await file_.read();
    expect_equal("the whole contents", model_.contents(), contents);
  }

  File& file_;
  const char* file_type_;
  const file_config& config_;
  const std::vector<operation>& ops_;
  reference_file model_;
  std::size_t step_ = 0;
  bool expect_rolled_ = false;
};

// ---------------------------------------------------------------------------------------
// Process-wide state: one ring, one directory, the descriptor baseline

io_ring& ring() {
  static io_ring instance;
  return instance;
}

std::filesystem::path make_scratch_dir() {
  const std::filesystem::path parent = std::filesystem::is_directory("/dev/shm") ? "/dev/shm" : gettempdir();
  std::string pattern = (parent / "tempfile-fuzz-XXXXXX").string();
  if (!::mkdtemp(pattern.data())) {
    std::perror("mkdtemp");
    std::abort();
  }
  return pattern;
}

const std::filesystem::path& scratch_dir() {
  static const std::filesystem::path dir = make_scratch_dir();
  return dir;
}

void remove_scratch_dir() {
  std::error_code ignored;
  std::filesystem::remove_all(scratch_dir(), ignored);
}

std::size_t count_entries(const std::filesystem::path& dir) {
  std::size_t count = 0;
  for ([[maybe_unused]] const auto& entry : std::filesystem::directory_iterator(dir)) ++count;
  return count;
}

/// Descriptors open in this process (the listing's own included), pipes aside: the
/// sanitizers' symbolizer opens those when libFuzzer reports new coverage; the library never.
std::size_t open_descriptors() {
  std::size_t count = 0;
  for (const auto& entry : std::filesystem::directory_iterator("/proc/self/fd")) {
    std::error_code gone;  // closed between the listing and the look
    const std::string target = std::filesystem::read_symlink(entry.path(), gone).string();
    if (!gone && !target.starts_with("pipe:")) ++count;
  }
  return count;
}

task<void> run_sequences(const file_config& config, const std::vector<operation>& ops) {
  const options opts = options().dir(scratch_dir()).mode(config.mode);
  {
    spooled_temporary_file spooled(ring(), options(opts).max_size(config.max_size));
    co_await sequence_check(spooled, "spooled_temporary_file", config, ops).run();
  }
  const options unspooled = options(opts).buffering(config.buffering);
  temporary_file file = co_await temporary_file::create(ring(), unspooled);
  co_await sequence_check(file, "temporary_file", config, ops).run();
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  ring();
  scratch_dir();
  std::atexit(remove_scratch_dir);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static std::size_t runs = 0;
  static std::size_t baseline_descriptors = 0;

  byte_reader in(std::span(data, size));
  const file_config config = decode_config(in);
  const std::vector<operation> ops = decode_operations(in);
  try {
    sync_wait(ring(), run_sequences(config, ops));
  } catch (const std::exception& e) {
    std::fprintf(stderr, "unexpected exception: %s\n", e.what());
    std::abort();
  }
  if (const std::size_t left = count_entries(scratch_dir()); left != 0) {
    std::fprintf(stderr, "%zu files left behind in %s\n", left, scratch_dir().c_str());
    std::abort();
  }
  // The first run may open what the ring keeps for good; every later one must not grow it.
  if (runs++ % 64 == 0) {
    const std::size_t now = open_descriptors();
    if (baseline_descriptors == 0) baseline_descriptors = now;
    if (now > baseline_descriptors) {
      std::fprintf(stderr, "descriptors grew from %zu to %zu\n", baseline_descriptors, now);
      std::abort();
    }
  }
  return 0;
}
