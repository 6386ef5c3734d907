// External sort with a temporary_directory as spill space: sorted runs are spilled to files
// in the directory, merged back, and the whole directory is removed at the end.
//   scratch_dir [--records N] [--run R]
#include <tempfile/tempfile.hpp>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <queue>
#include <random>
#include <vector>

#include "command_line.hpp"

using namespace tempfile;

namespace {

using record = std::uint64_t;

std::span<const std::byte> bytes_of(const std::vector<record>& v) { return std::as_bytes(std::span(v)); }

/// One spilled run, read back a record at a time through the file's read-ahead buffer.
struct run_reader {
  named_temporary_file file;
  record head = 0;
  task<bool> advance() {
    const std::size_t got = co_await file.read(std::as_writable_bytes(std::span(&head, 1)));
    co_return got == sizeof head;
  }
};

task<int> external_sort(io_ring& ring, std::size_t records, std::size_t run_size) {
  temporary_directory spill = co_await temporary_directory::create(ring, options().prefix("sort-"));
  std::mt19937_64 rng(42);
  std::vector<run_reader> runs;
  std::uint64_t checksum = 0;
  for (std::size_t done = 0; done < records;) {  // spill sorted runs
    std::vector<record> chunk(std::min(run_size, records - done));
    for (auto& r : chunk) checksum += r = rng();
    std::sort(chunk.begin(), chunk.end());
    auto file = co_await named_temporary_file::create(ring, options().dir(spill.path()).suffix(".run"));
    co_await file.write(bytes_of(chunk));
    file.seek(0);
    runs.push_back(run_reader{std::move(file)});
    done += chunk.size();
  }
  std::printf("spilled %zu runs into %s\n", runs.size(), spill.path().c_str());

  auto later = [&](std::size_t a, std::size_t b) { return runs[a].head > runs[b].head; };
  std::priority_queue<std::size_t, std::vector<std::size_t>, decltype(later)> heap(later);
  for (std::size_t i = 0; i < runs.size(); ++i)
    if (co_await runs[i].advance()) heap.push(i);
  std::size_t merged = 0;
  record previous = 0;
  bool ordered = true;
  std::uint64_t merged_checksum = 0;
  while (!heap.empty()) {  // k-way merge
    const std::size_t i = heap.top();
    heap.pop();
    ordered &= runs[i].head >= previous;
    previous = runs[i].head;
    merged_checksum += previous;
    ++merged;
    if (co_await runs[i].advance()) heap.push(i);
  }
  runs.clear();
  co_await spill.cleanup();
  const bool ok = ordered && merged == records && merged_checksum == checksum &&
                  !std::filesystem::exists(spill.path());
  std::printf("merged %zu records: %s\n", merged, ok ? "sorted, complete, spill removed" : "FAILED");
  co_return ok ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  std::size_t records = 1'000'000, run_size = 100'000;
  return example::run(
      argc, argv,
      "usage: scratch_dir [--records N] [--run R]\n"
      "Sorts N random 64-bit records externally: sorted runs of R records are spilled to\n"
      "named files in a temporary directory, merged back, and the directory removed.\n"
      "  --records N  how many records (default 1000000)\n"
      "  --run R      records per spilled run (default 100000)\n",
      {{"--records", example::number(records)}, {"--run", example::number(run_size)}},
      [&] {
        io_ring ring;
        return sync_wait(ring, external_sort(ring, records, std::max<std::size_t>(run_size, 1)));
      });
}
