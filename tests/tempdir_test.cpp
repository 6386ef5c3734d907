// Module data: tmp_max, gettempdir, gettempprefix, tempdir, set_tempdir, set_template
// (CPython's test_tempfile: TestGetTempPrefix, TestGetTempDir, TestGetDefaultTempdir,
// TestGetCandidateDirs).

#include <sys/stat.h>
#include <unistd.h>

#include <tempfile/tempdir.hpp>

#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "module_state.hpp"
#include "support.hpp"

using namespace tempfile;
using test::has_errno;
namespace fs = std::filesystem;

TEST_CASE("tmp_max is Python's TMP_MAX", "[tempdir]") { STATIC_REQUIRE(tmp_max == 238328); }

TEST_CASE("gettempprefix is \"tmp\" by default and follows set_template", "[tempdir]") {
  test::module_state_guard state;
  set_template("tmp");
  CHECK(gettempprefix() == "tmp");
  set_template("spool-");
  CHECK(gettempprefix() == "spool-");
}

TEST_CASE("gettempdir returns $TMPDIR exactly, leaving nothing there", "[tempdir]") {
  test::module_state_guard state;
  test::scratch_dir scratch;
  state.environment(scratch.path().string());
  CHECK(gettempdir() == scratch.path());
  CHECK(scratch.entries() == 0);
}

TEST_CASE("gettempdir is cached until set_tempdir(nullopt)", "[tempdir]") {
  test::module_state_guard state;
  test::scratch_dir first, second;
  state.environment(first.path().string());
  CHECK_FALSE(tempdir().has_value());
  CHECK(gettempdir() == first.path());
  CHECK(tempdir() == first.path());  // as in Python, the search result becomes `tempdir`
  ::setenv("TMPDIR", second.path().c_str(), 1);
  CHECK(gettempdir() == first.path());
  set_tempdir(std::nullopt);
  CHECK(gettempdir() == second.path());
}

TEST_CASE("set_tempdir overrides the search and is returned unchanged", "[tempdir]") {
  test::module_state_guard state;
  test::scratch_dir scratch;
  state.environment(scratch.path().string());
  set_tempdir(fs::path("/nonexistent/chosen"));
  CHECK(tempdir() == fs::path("/nonexistent/chosen"));
  CHECK(gettempdir() == fs::path("/nonexistent/chosen"));
}

TEST_CASE("gettempdir makes a relative $TMPDIR absolute", "[tempdir]") {
  test::module_state_guard state;
  test::scratch_dir scratch;
  fs::create_directory(scratch / "sub");
  test::cwd_guard cwd(scratch.path());
  state.environment("./sub/");
  CHECK(gettempdir() == scratch / "sub");
}

TEST_CASE("gettempdir falls through unusable candidates in order", "[tempdir]") {
  test::module_state_guard state;
  test::scratch_dir scratch;
  const fs::path missing = scratch / "missing";
  const fs::path file = scratch / "file";
  const fs::path temp = scratch / "temp";
  const fs::path tmp = scratch / "tmp";
  std::ofstream(file) << "x";
  fs::create_directory(temp);
  fs::create_directory(tmp);

  SECTION("a missing $TMPDIR gives way to $TEMP") {
    state.environment(missing.string(), temp.string(), tmp.string());
    CHECK(gettempdir() == temp);
  }
  SECTION("a $TMPDIR that is a file gives way to $TEMP") {
    state.environment(file.string(), temp.string(), tmp.string());
    CHECK(gettempdir() == temp);
  }
  SECTION("an empty $TMPDIR and a bad $TEMP give way to $TMP") {
    state.environment("", missing.string(), tmp.string());
    CHECK(gettempdir() == tmp);
  }
  SECTION("without the variables the fixed list follows") {
    state.environment(std::nullopt);
    CHECK(gettempdir() ==
          detail::first_usable_dir({"/tmp", "/var/tmp", "/usr/tmp", fs::current_path()}));
  }
  CHECK(fs::is_empty(temp));
  CHECK(fs::is_empty(tmp));
}

TEST_CASE("the search skips a directory that cannot be written", "[tempdir]") {
  test::scratch_dir scratch;
  const fs::path locked = test::make_locked_dir(scratch.path());
  const fs::path open = scratch / "open";
  fs::create_directory(open);
  fs::permissions(open, fs::perms::all);
  test::check_unprivileged([&]() -> std::string {
    const fs::path chosen = detail::first_usable_dir({locked, open});
    return chosen == open ? "" : "chose " + chosen.string();
  });
  CHECK(fs::is_empty(open));
}

TEST_CASE("no usable candidate throws ENOENT naming each one and why", "[tempdir]") {
  test::scratch_dir scratch;
  const fs::path missing = scratch / "missing";
  const fs::path file = scratch / "file";
  std::ofstream(file) << "x";
  const int fds = test::open_fds();
  CHECK_THROWS_MATCHES(detail::first_usable_dir({missing, file}), std::system_error,
                       has_errno(ENOENT));
  try {
    detail::first_usable_dir({missing, file});
  } catch (const std::system_error& e) {
    CHECK_THAT(e.what(), Catch::Contains(missing.string() + " (No such file or directory)") &&
                             Catch::Contains(file.string() + " (Not a directory)"));
  }
  CHECK(test::open_fds() == fds);
  CHECK(scratch.entries() == 1);
}

TEST_CASE("absolute_path follows os.path.abspath", "[tempdir]") {
  test::scratch_dir scratch;
  test::cwd_guard cwd(scratch.path());
  CHECK(detail::absolute_path("") == scratch.path());
  CHECK(detail::absolute_path("a/./b/../c/") == scratch / "a/c");
  CHECK(detail::absolute_path("/x//y/") == fs::path("/x/y"));
  CHECK(detail::absolute_path("/") == fs::path("/"));
}

TEST_CASE("concurrent first calls of gettempdir agree", "[tempdir]") {
  test::module_state_guard state;
  test::scratch_dir scratch;
  state.environment(scratch.path().string());
  std::vector<fs::path> seen(8);
  std::vector<std::thread> threads;
  for (auto& result : seen) threads.emplace_back([&result] { result = gettempdir(); });
  for (auto& t : threads) t.join();
  for (const auto& result : seen) CHECK(result == scratch.path());
  CHECK(scratch.entries() == 0);
}
