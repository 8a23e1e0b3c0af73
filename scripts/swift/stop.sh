#!/usr/bin/env bash
# Stops the Swift of scripts/swift/start.sh (same OCELLUS_SWIFT_DIR). Keeps the state dir (data,
# rings, logs) unless --purge is given. No error when it is not running.
set -euo pipefail

dir="$(realpath -m "${OCELLUS_SWIFT_DIR:-/tmp/ocellus-swift}")"

# Only processes whose command line names the state dir: a recycled pid is left alone.
pid_of() {
  local pidfile="$dir/run/$1.pid" pid
  [ -s "$pidfile" ] || return 1
  pid="$(cat "$pidfile")"
  tr '\0' ' ' 2>/dev/null <"/proc/$pid/cmdline" | grep -qF "$dir" || return 1
  echo "$pid"
}

servers=(proxy object container account memcached)
declare -A pids=()
for s in "${servers[@]}"; do
  if pid="$(pid_of "$s")"; then
    pids[$s]="$pid"
    kill -TERM "$pid" 2>/dev/null || true
  fi
done
for s in "${!pids[@]}"; do
  pid="${pids[$s]}"
  for _ in $(seq 50); do [ -d "/proc/$pid" ] || break; sleep 0.1; done
  kill -KILL "$pid" 2>/dev/null || true
  echo "swift: stopped $s (pid $pid)" >&2
done
for s in "${servers[@]}"; do rm -f "$dir/run/$s.pid"; done
if [ "${1:-}" = "--purge" ]; then
  rm -rf "$dir"
  echo "swift: removed $dir" >&2
fi
