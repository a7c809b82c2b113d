#!/usr/bin/env bash
# dev.sh: the README's set-up commands. Each installs the Debian packages kbox needs (as root;
# otherwise it names them), configures and builds, then:
#   ./dev.sh run               builds kbox (build-release/) and runs its main job over the samples
#   ./dev.sh test [--sanitize] builds with warnings as errors and runs every test (ASan+UBSan with
#                              --sanitize, in build-asan/; else in build/)
#   ./dev.sh test --tsan       builds the threaded tests (ctest label tsan) under ThreadSanitizer in
#                              build-tsan/ and runs only them; any race report fails the run
#   ./dev.sh fuzz [SECONDS]    builds the libFuzzer targets with clang and runs each briefly
# Idempotent: a second run only rebuilds what changed.
set -euo pipefail
cd "$(dirname "$0")"
jobs=$(nproc 2>/dev/null || echo 2)
cmd=${1:-}
shift || true

scripts/setup.sh

case "$cmd" in
run)
  cmake -S . -B build-release -DCMAKE_BUILD_TYPE=Release >/dev/null
  cmake --build build-release -j"$jobs"
  exec scripts/run_demo.sh build-release/cli/kbox "$@"
  ;;
test)
  dir=build type=RelWithDebInfo san="" label=""
  if [ "${1:-}" = "--sanitize" ]; then
    dir=build-asan san="address,undefined"
    export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1
  elif [ "${1:-}" = "--tsan" ]; then
    # TSAN_OPTIONS, OMP_NUM_THREADS and OPENBLAS_NUM_THREADS are set per test (tests/CMakeLists.txt)
    dir=build-tsan san="thread" label="tsan"
  fi
  cmake -S . -B "$dir" -DCMAKE_BUILD_TYPE=$type -DKBOX_WERROR=ON -DKBOX_SANITIZE="$san" >/dev/null
  if [ -n "$label" ]; then
    # only the binaries of the labelled tests (a kb_test's target is named like its test), and kbox
    targets=$(cd "$dir" && ctest -N -L "$label" | sed -n 's/^ *Test *#[0-9]*: *//p')
    # shellcheck disable=SC2086 # one word per target
    cmake --build "$dir" -j"$jobs" --target kbox $targets
    (cd "$dir" && ctest --output-on-failure -j"$jobs" --timeout 1500 -L "$label")
  else
    cmake --build "$dir" -j"$jobs"
    scripts/test_setup.sh
    (cd "$dir" && ctest --output-on-failure -j"$jobs" --timeout 1500)
  fi
  ;;
fuzz)
  secs=${1:-20}
  CC=clang CXX=clang++ cmake -S . -B build-fuzz -DCMAKE_BUILD_TYPE=RelWithDebInfo -DKBOX_FUZZ=ON >/dev/null
  cmake --build build-fuzz -j"$jobs"
  scripts/run_fuzz.sh build-fuzz "$secs"
  ;;
*)
  echo "usage: ./dev.sh run | test [--sanitize | --tsan] | fuzz [SECONDS]" >&2
  exit 1
  ;;
esac
