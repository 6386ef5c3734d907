#include <tempfile/tempdir.hpp>

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <mutex>
#include <string_view>
#include <system_error>
#include <utility>

#include <tempfile/unique_fd.hpp>

#include "random_name.hpp"

namespace tempfile {
namespace fs = std::filesystem;
namespace {

struct module_data {
  std::mutex mutex;
  std::optional<fs::path> tempdir;
  std::string prefix = "tmp";
};

// Function-local so that other static initialisers may already use the module data.
module_data& data() {
  static module_data instance;
  return instance;
}

std::error_code last_error() { return {errno, std::generic_category()}; }

/// Creates, writes and removes one file in `dir`, as Python's `_get_default_tempdir` does.
/// Returns why that failed, or no error.
std::error_code probe(const fs::path& dir) {
  constexpr int attempts = 100;  // Python's: only a name collision earns another try
  for (int attempt = 0; attempt < attempts; ++attempt) {
    const fs::path file = dir / detail::random_name();
    unique_fd fd(::open(file.c_str(), O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600));
    if (!fd) {
      if (errno == EEXIST) continue;
      return last_error();
    }
    constexpr char contents[] = "blat";
    const ssize_t written = ::write(fd.get(), contents, sizeof contents - 1);
    std::error_code error;
    if (written < 0)
      error = last_error();
    else if (static_cast<std::size_t>(written) != sizeof contents - 1)
      error = std::make_error_code(std::errc::no_space_on_device);
    if (::close(fd.release()) != 0 && !error) error = last_error();
    if (::unlink(file.c_str()) != 0 && !error) error = last_error();
    return error;
  }
  return std::make_error_code(std::errc::file_exists);
}

std::vector<fs::path> default_candidates() {
  std::vector<fs::path> candidates;
  for (const char* variable : {"TMPDIR", "TEMP", "TMP"})
    if (const char* value = std::getenv(variable); value && *value) candidates.emplace_back(value);
  for (const char* dir : {"/tmp", "/var/tmp", "/usr/tmp"}) candidates.emplace_back(dir);
  std::error_code ignored;  // an unreachable cwd is still tried, as "."
  fs::path cwd = fs::current_path(ignored);
  candidates.push_back(cwd.empty() ? fs::path(".") : std::move(cwd));
  return candidates;
}

}  // namespace

namespace detail {

namespace {

/// Whether `text` is an absolute path already in normal form: no empty, "." or ".."
/// component and no trailing slash (what every file creation passes, checked without
/// building one path per component).
bool normal_absolute(std::string_view text) {
  if (text.empty() || text.front() != '/') return false;
  if (text.size() == 1) return true;
  if (text.back() == '/') return false;
  for (std::size_t start = 1; start <= text.size();) {
    const std::size_t end = std::min(text.find('/', start), text.size());
    const std::string_view component = text.substr(start, end - start);
    if (component.empty() || component == "." || component == "..") return false;
    start = end + 1;
  }
  return true;
}

}  // namespace

fs::path absolute_path(const fs::path& p) {
  if (normal_absolute(p.native())) return p;
  // libstdc++'s absolute() rejects an empty path, which Python reads as the current dir.
  fs::path result = (p.empty() ? fs::current_path() : fs::absolute(p)).lexically_normal();
  if (result.has_relative_path() && !result.has_filename()) result = result.parent_path();
  return result;
}

fs::path first_usable_dir(const std::vector<fs::path>& candidates) {
  std::string failures;
  for (const fs::path& candidate : candidates) {
    std::error_code error;
    try {
      fs::path dir = absolute_path(candidate);
      error = probe(dir);
      if (!error) return dir;
    } catch (const fs::filesystem_error& e) {
      error = e.code();
    }
    failures += (failures.empty() ? " " : ", ") + candidate.string() + " (" + error.message() + ")";
  }
  throw std::system_error(ENOENT, std::generic_category(),
                          "no usable temporary directory found in" + failures);
}

}  // namespace detail

fs::path gettempdir() {
  auto& d = data();
  const std::lock_guard lock(d.mutex);
  if (!d.tempdir) d.tempdir = detail::first_usable_dir(default_candidates());
  return *d.tempdir;
}

std::string gettempprefix() {
  auto& d = data();
  const std::lock_guard lock(d.mutex);
  return d.prefix;
}

std::optional<fs::path> tempdir() {
  auto& d = data();
  const std::lock_guard lock(d.mutex);
  return d.tempdir;
}

void set_tempdir(std::optional<fs::path> dir) {
  auto& d = data();
  const std::lock_guard lock(d.mutex);
  d.tempdir = std::move(dir);
}

void set_template(std::string prefix) {
  auto& d = data();
  const std::lock_guard lock(d.mutex);
  d.prefix = std::move(prefix);
}

}  // namespace tempfile
