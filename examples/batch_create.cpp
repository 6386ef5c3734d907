// Thousands of temporary files created at once: one when_all, batched into few syscalls.
//   batch_create [--files N] [--dir D]
#include <tempfile/tempfile.hpp>

#include <chrono>
#include <cstdio>
#include <set>
#include <string>
#include <vector>

#include "command_line.hpp"

using namespace tempfile;

namespace {

task<void> scratch(io_ring& ring, const options& opts, const std::string& payload) {
  temporary_file file = co_await temporary_file::create(ring, opts);
  co_await file.write(payload);
  co_await file.close();
}

task<std::filesystem::path> named(io_ring& ring, const options& opts) {
  named_temporary_file file = co_await named_temporary_file::create(ring, opts);
  std::filesystem::path name = file.name();
  co_await file.close();  // deleted on close
  co_return name;
}

}  // namespace

int main(int argc, char** argv) {
  std::size_t files = 5000;
  options opts;
  return example::run(
      argc, argv,
      "usage: batch_create [--files N] [--dir D]\n"
      "Creates N unnamed files (4 KiB each) at once, then N named ones, in D (default: the\n"
      "temp directory), and checks that the names are distinct and nothing is left behind.\n"
      "  --files N  how many files of each kind (default 5000)\n"
      "  --dir D    an existing directory to create them in\n",
      {{"--files", example::number(files)},
       {"--dir", [&](std::string_view dir) { opts.dir(std::filesystem::path(dir)); }}},
      [&] {
        io_ring ring;
        const std::string payload(4096, 'x');

        const auto start = std::chrono::steady_clock::now();
        std::vector<task<void>> creating;
        for (std::size_t i = 0; i < files; ++i) creating.push_back(scratch(ring, opts, payload));
        sync_wait(ring, when_all(std::move(creating)));
        const std::chrono::duration<double> took = std::chrono::steady_clock::now() - start;
        std::printf(
            "%zu unnamed files created, written (4 KiB) and closed in %.3f s: %.0f files/s, "
            "%llu io_uring_enter calls, up to %llu requests in one\n",
            files, took.count(), static_cast<double>(files) / took.count(),
            static_cast<unsigned long long>(ring.stats().enters),
            static_cast<unsigned long long>(ring.stats().largest_submit));

        std::vector<task<std::filesystem::path>> naming;
        for (std::size_t i = 0; i < files; ++i) naming.push_back(named(ring, opts));
        const std::vector<std::filesystem::path> names =
            sync_wait(ring, when_all(std::move(naming)));
        const std::set<std::filesystem::path> distinct(names.begin(), names.end());
        std::size_t left = 0;
        for (const auto& name : names) left += std::filesystem::exists(name);
        std::printf("%zu named files: %zu distinct names, %zu left behind\n", names.size(),
                    distinct.size(), left);
        return distinct.size() == files && left == 0 ? 0 : 1;
      });
}
