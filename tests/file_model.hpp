#pragma once
// Model-based checking of the file protocol: random operations applied to a library file
// and to a reference (a plain descriptor driven with pread/pwrite/ftruncate) must agree.

#include <sys/stat.h>
#include <unistd.h>

#include <tempfile/tempfile.hpp>

#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "support.hpp"

namespace test {

/// A plain file and a position: what a correct file object must behave like.
class reference_file {
 public:
  explicit reference_file(const std::filesystem::path& dir)
      : fd_(::open(dir.c_str(), O_TMPFILE | O_RDWR | O_CLOEXEC, 0600)) {
    REQUIRE(fd_ >= 0);
  }
  ~reference_file() { ::close(fd_); }
  reference_file(const reference_file&) = delete;
  reference_file& operator=(const reference_file&) = delete;

  std::int64_t size() const {
    struct stat st;
    REQUIRE(::fstat(fd_, &st) == 0);
    return st.st_size;
  }
  void write(std::string_view data) {
    REQUIRE(::pwrite(fd_, data.data(), data.size(), pos) == static_cast<ssize_t>(data.size()));
    pos += static_cast<std::int64_t>(data.size());
  }
  std::string read(std::int64_t n) {
    const std::int64_t available = std::max<std::int64_t>(0, size() - pos);
    std::string out(static_cast<std::size_t>(n < 0 ? available : std::min(n, available)), '\0');
    REQUIRE(::pread(fd_, out.data(), out.size(), pos) == static_cast<ssize_t>(out.size()));
    pos += static_cast<std::int64_t>(out.size());
    return out;
  }
  std::string readline(std::int64_t limit) {
    const std::int64_t start = pos;
    std::string rest = read(-1);
    std::size_t end = rest.find('\n');
    end = end == std::string::npos ? rest.size() : end + 1;
    if (limit >= 0) end = std::min(end, static_cast<std::size_t>(limit));
    pos = start + static_cast<std::int64_t>(end);
    return rest.substr(0, end);
  }
  void truncate(std::int64_t n) { REQUIRE(::ftruncate(fd_, n) == 0); }
  std::string contents() const {
    std::string out(static_cast<std::size_t>(size()), '\0');
    REQUIRE(::pread(fd_, out.data(), out.size(), 0) == static_cast<ssize_t>(out.size()));
    return out;
  }

  std::int64_t pos = 0;

 private:
  int fd_;
};

inline std::string random_bytes(std::mt19937_64& rng, std::size_t n) {
  std::string s(n, '\0');
  for (auto& c : s) {
    const auto r = rng() % 40;
    c = r == 0 ? '\n' : static_cast<char>('a' + r % 26);
  }
  return s;
}

/// Applies `steps` random protocol calls to `file` and to a reference; every result, every
/// position and finally the whole contents must match. Returns the final contents.
template <class File>
tempfile::task<std::string> check_against_reference(File& file, reference_file& ref,
                                                    std::uint64_t seed, int steps,
                                                    std::int64_t max_seek = 300'000) {
  std::mt19937_64 rng(seed);
  auto pick = [&](std::int64_t bound) {
    return static_cast<std::int64_t>(rng() % static_cast<std::uint64_t>(bound));
  };
  for (int step = 0; step < steps; ++step) {
    const int op = static_cast<int>(pick(100));
    CAPTURE(seed, step, op);
    if (op < 30) {  // write: mostly small, sometimes larger than any buffer
      const std::size_t n = static_cast<std::size_t>(pick(8) == 0 ? pick(400'000) : pick(5000));
      const std::string data = random_bytes(rng, n);
      const std::size_t written = co_await file.write(data);
      REQUIRE(written == n);
      ref.write(data);
    } else if (op < 45) {  // read(n), sometimes to the end
      const std::int64_t n = pick(10) == 0 ? -1 : pick(9000);
      const std::string got = co_await file.read(n);
      REQUIRE(got == ref.read(n));
    } else if (op < 55) {  // readinto
      std::string buffer(static_cast<std::size_t>(pick(70'000)), '\0');
      const std::size_t got = co_await file.read(std::as_writable_bytes(std::span(buffer)));
      buffer.resize(got);
      REQUIRE(buffer == ref.read(static_cast<std::int64_t>(got)));
      REQUIRE(ref.pos == file.tell());
    } else if (op < 63) {  // readline, with or without a limit
      const std::int64_t limit = pick(3) == 0 ? pick(100) : -1;
      const std::string line = co_await file.readline(limit);
      REQUIRE(line == ref.readline(limit));
    } else if (op < 78) {  // seek, all three whences
      const int whence = static_cast<int>(pick(3));
      std::int64_t offset = 0;
      if (whence == SEEK_SET) offset = pick(max_seek);
      if (whence == SEEK_CUR) offset = pick(20'000) - std::min<std::int64_t>(ref.pos, 10'000);
      if (whence == SEEK_END) offset = -std::min(ref.size(), pick(20'000));
      const std::int64_t base = whence == SEEK_SET ? 0 : whence == SEEK_CUR ? ref.pos : ref.size();
      ref.pos = base + offset;
      REQUIRE(file.seek(offset, whence) == ref.pos);
    } else if (op < 85) {  // truncate to the position or to a size
      const bool at_position = pick(2) == 0;
      const std::int64_t size = at_position ? ref.pos : pick(max_seek);
      const std::int64_t result = at_position ? co_await file.truncate()
                                              : co_await file.truncate(size);
      REQUIRE(result == size);
      ref.truncate(size);
    } else if (op < 92) {  // writelines
      std::vector<std::string> lines;
      for (auto i = pick(4); i >= 0; --i) lines.push_back(random_bytes(rng, static_cast<std::size_t>(pick(200))) + "\n");
      co_await file.writelines(lines);
      for (const auto& line : lines) ref.write(line);
    } else {
      co_await file.flush();
    }
    REQUIRE(file.tell() == ref.pos);
    const std::int64_t position = file.tell();
    REQUIRE(file.seek(0, SEEK_END) == ref.size());  // the file's idea of its end is right
    file.seek(position);
  }
  file.seek(0);
  const std::string contents = co_await file.read();
  REQUIRE(contents == ref.contents());
  ref.pos = static_cast<std::int64_t>(contents.size());
  co_return contents;
}

}  // namespace test
