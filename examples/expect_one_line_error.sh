#!/bin/sh
# Usage: expect_one_line_error.sh STATUS PROGRAM [ARGS...]
# Passes if PROGRAM exits with STATUS and writes exactly one line to stderr, naming itself.
expected=$1
shift
errors=$("$@" 2>&1 >/dev/null)
status=$?
printf '%s\n' "$errors"
name=$(basename "$1")
[ "$status" -eq "$expected" ] || { echo "exit status $status, expected $expected"; exit 1; }
[ "$(printf '%s\n' "$errors" | wc -l)" -eq 1 ] || { echo "expected one line on stderr"; exit 1; }
case $errors in
  "$name: "*) ;;
  *) echo "the error does not start with '$name: '"; exit 1 ;;
esac
