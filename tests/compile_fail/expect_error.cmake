# Compiles SOURCE and passes only if that fails with a diagnostic containing EXPECT and
# not REJECT (case-insensitive). Run as: cmake -DCOMPILER=... -DINCLUDES=a;b -DSOURCE=...
#   -DEXPECT=... -DREJECT=... -P expect_error.cmake
list(TRANSFORM INCLUDES PREPEND -I)
set(ENV{LC_ALL} C)  # plain quotes in g++'s diagnostics
execute_process(COMMAND ${COMPILER} -std=c++20 -fsyntax-only ${INCLUDES} ${SOURCE}
                RESULT_VARIABLE status ERROR_VARIABLE diagnostics OUTPUT_VARIABLE diagnostics)
message("${diagnostics}")
string(TOLOWER "${diagnostics}" diagnostics)
string(TOLOWER "${EXPECT}" EXPECT)
string(TOLOWER "${REJECT}" REJECT)
if(status EQUAL 0)
  message(FATAL_ERROR "${SOURCE} compiled; it must not")
endif()
string(FIND "${diagnostics}" "${EXPECT}" expected_at)
if(expected_at EQUAL -1)
  message(FATAL_ERROR "the diagnostic lacks \"${EXPECT}\"")
endif()
string(FIND "${diagnostics}" "${REJECT}" rejected_at)
if(NOT rejected_at EQUAL -1)
  message(FATAL_ERROR "the diagnostic mentions \"${REJECT}\"")
endif()
