#include <tempfile/names.hpp>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <system_error>
#include <utility>

#include <tempfile/ops.hpp>
#include <tempfile/tempdir.hpp>

#include "permissions.hpp"
#include "random_name.hpp"

namespace tempfile {
namespace fs = std::filesystem;
namespace {

thread_local detail::name_source installed_name_source;

[[noreturn]] void throw_names_exhausted(const fs::path& dir) {
  throw std::system_error(EEXIST, std::generic_category(),
                          "no usable temporary name found in " + dir.string());
}

/// The name `create_unique` succeeded with and the creating syscall's result.
struct unique_creation {
  int result;
  fs::path path;
};

/// Awaits `create(path)` on fresh names in the directory `opts` names until one is not
/// taken (EEXIST) yet. Any other error propagates at once. Awaited at once by callers that
/// hold `opts` meanwhile (a copy of its directory allocates).
template <class Create>
task<unique_creation> create_unique(const options& opts, Create create) {
  const fs::path dir = detail::resolve_dir(opts);
  for (int attempt = 0; attempt < tmp_max; ++attempt) {
    fs::path path = detail::random_path(dir, opts);
    try {
      const int result = co_await create(path.c_str());
      co_return unique_creation{result, std::move(path)};
    } catch (const std::system_error& e) {
      if (e.code().value() != EEXIST) throw;  // ops throw generic_category errors only
    }
  }
  throw_names_exhausted(dir);
}

}  // namespace

namespace detail {

fs::path resolve_dir(const options& opts) {
  return opts.dir() ? absolute_path(*opts.dir()) : absolute_path(gettempdir());
}

fs::path random_path(const fs::path& dir, const options& opts) {
  std::string name = opts.prefix() ? *opts.prefix() : gettempprefix();
  name += installed_name_source ? installed_name_source() : random_name();
  name += opts.suffix();
  // An absolute prefix replaces `dir`, as in Python; tests may make empty names.
  if (dir.empty() || name.empty() || name.front() == '/') return dir / name;
  // `dir / name` spelled out: the text built once, one allocation fewer per name.
  std::string text;
  text.reserve(dir.native().size() + 1 + name.size());
  text = dir.native();
  if (text.back() != '/') text += '/';
  text += name;
  return fs::path(std::move(text));
}

name_source set_name_source(name_source source) {
  return std::exchange(installed_name_source, std::move(source));
}

}  // namespace detail

task<created_file> mkstemp(io_ring& ring, options opts) {
  // `text` is accepted and, as on every POSIX system, changes nothing.
  auto open = [&ring](const char* path) {
    return ops::openat(ring, AT_FDCWD, path, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
                       0600);
  };
  unique_creation created = co_await create_unique(opts, open);
  created_file file{unique_fd(created.result), std::move(created.path)};
  try {
    detail::apply_permissions(file.fd.get(), opts, file.path);
  } catch (...) {
    ::unlink(file.path.c_str());  // leave nothing behind
    throw;
  }
  co_return file;
}

task<fs::path> mkdtemp(io_ring& ring, options opts) {
  auto make = [&ring](const char* path) { return ops::mkdirat(ring, AT_FDCWD, path, 0700); };
  unique_creation created = co_await create_unique(opts, make);
  try {
    detail::apply_directory_permissions(created.path, opts);
  } catch (...) {
    ::rmdir(created.path.c_str());  // leave nothing behind
    throw;
  }
  co_return std::move(created.path);
}

fs::path mktemp(options opts) {
  const fs::path dir = detail::resolve_dir(opts);
  for (int attempt = 0; attempt < tmp_max; ++attempt) {
    fs::path path = detail::random_path(dir, opts);
    struct stat st;
    // As Python's `_exists`: any lstat failure counts as "does not exist".
    if (::lstat(path.c_str(), &st) != 0) return path;
  }
  throw_names_exhausted(dir);
}

}  // namespace tempfile
