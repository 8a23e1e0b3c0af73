#!/usr/bin/env bash
# Stops the Barbican that scripts/barbican/start.sh started (its state dir's uwsgi master); keeps the state dir.
set -euo pipefail
dir="$(realpath -m "${OCELLUS_BARBICAN_DIR:-/tmp/ocellus-barbican}")"
pidfile="$dir/uwsgi.pid"
[ -s "$pidfile" ] || { echo "barbican: not running ($pidfile missing)" >&2; exit 0; }
pid="$(cat "$pidfile")"
if [ "$(readlink "/proc/$pid/cwd" 2>/dev/null)" = "$dir" ]; then
  kill -TERM "$pid"
  for _ in $(seq 50); do [ -d "/proc/$pid" ] || break; sleep 0.2; done
  echo "barbican: stopped pid $pid" >&2
else
  echo "barbican: pid $pid is not the Barbican of $dir; nothing stopped" >&2
fi
rm -f "$pidfile" "$dir/provisioned"
