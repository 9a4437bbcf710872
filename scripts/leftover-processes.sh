#!/usr/bin/env bash
# Finds the processes a test run started that are still running, and stops them.
#
#   scripts/leftover-processes.sh --check NAME   fail (exit 1) if any are left, listing and stopping them
#   scripts/leftover-processes.sh --stop NAME    stop any that are left, saying which (exit 0)
#
# A run marks itself with an environment variable NAME set to a value of its own (scripts/test.sh:
# ALMANAC_TEST_RUN, scripts/desktop-e2e.sh: ALMANAC_E2E_RUN). Every process it starts inherits it,
# whatever becomes of its parent (an orphan under init keeps its environment), so a process whose
# /proc/PID/environ holds NAME=VALUE was started by this run; other runs on the machine have other
# values. This script and its ancestors (the run itself) are not counted. Processes that clear their
# environment are not seen: none of the tests' do (docs/decisions/0017-disk-faults.md).
set -euo pipefail

mode=${1:-}
name=${2:-}
if [[ $mode != --check && $mode != --stop ]] || [[ -z $name ]]; then
  echo "usage: $0 --check|--stop NAME" >&2
  exit 2
fi
value=${!name:-}
if [[ -z $value ]]; then
  echo "leftover-processes: $name is not set: nothing marks this run's processes" >&2
  exit 2
fi
# Our own children (tr, sleep, kill) must not carry the mark.
unset "$name"

# This script and its ancestors: the run that asks.
declare -A ours=()
pid=$$
while [[ $pid -gt 1 ]]; do
  ours[$pid]=1
  read -r stat <"/proc/$pid/stat" || break
  read -r _ pid _ <<<"${stat##*) }"
done

# Marked processes, less ours and this script's own subshells and commands (a forked subshell
# shows its parent's environment until it execs).
marked() {
  local dir pid stat state parent
  for dir in /proc/[0-9]*; do
    pid=${dir#/proc/}
    [[ -n ${ours[$pid]:-} || $pid == "$BASHPID" ]] && continue
    read -r stat 2>/dev/null <"$dir/stat" || continue
    read -r state parent _ <<<"${stat##*) }"
    [[ $state == Z || $parent == "$$" || $parent == "$BASHPID" ]] && continue
    if grep -qzxF "$name=$value" "$dir/environ" 2>/dev/null; then
      echo "$pid"
    fi
  done
}

describe() {
  local cmd
  cmd=$(tr '\0' ' ' 2>/dev/null <"/proc/$1/cmdline" || true)
  echo "  pid $1: ${cmd:-?}"
}

# --check: a process killed a moment ago may not be gone yet, so the run's own clean-up gets 10 s.
# --stop: the run is over (or was interrupted), what is left goes at once.
grace=${ALMANAC_LEFTOVER_GRACE_SECS:-10}
[[ $mode == --stop ]] && grace=0
left=$(marked)
for _ in $(seq $((grace * 2))); do
  [[ -z $left ]] && break
  sleep 0.5
  left=$(marked)
done
[[ -z $left ]] && exit 0

count=$(wc -w <<<"$left")
if [[ $mode == --check ]]; then
  echo "leftover-processes: FAILED: $count process(es) started by this test run ($name=$value) are still running:" >&2
else
  echo "leftover-processes: stopping $count process(es) this run ($name=$value) left running:" >&2
fi
for pid in $left; do describe "$pid" >&2; done
# shellcheck disable=SC2086
kill -TERM $left 2>/dev/null || true
for _ in $(seq 10); do
  [[ -z $(marked) ]] && break
  sleep 0.5
done
left=$(marked)
# shellcheck disable=SC2086
[[ -z $left ]] || kill -KILL $left 2>/dev/null || true
[[ $mode == --stop ]]
