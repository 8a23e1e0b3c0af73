#!/usr/bin/env bash
# Stops the private Keystone that scripts/keystone/start.sh started (the uwsgi of its pidfile).
#   --purge   also removes the state dir (database, keys, logs), so the next start is a fresh one.
# OCELLUS_KEYSTONE_DIR as for start.sh (default /tmp/ocellus-keystone).
set -euo pipefail

dir="$(realpath -m "${OCELLUS_KEYSTONE_DIR:-/tmp/ocellus-keystone}")"
purge=0
for arg in "$@"; do
  case "$arg" in
    --purge) purge=1 ;;
    *) echo "usage: $0 [--purge]" >&2; exit 2 ;;
  esac
done

log() { echo "keystone: $*" >&2; }

pidfile="$dir/uwsgi.pid"
pid=""
[ -s "$pidfile" ] && pid="$(cat "$pidfile")"
# Only a uwsgi working in this state dir is ours (a stale pidfile may name an unrelated process).
if [ -n "$pid" ] && [ "$(readlink "/proc/$pid/cwd" 2>/dev/null)" = "$dir" ] &&
  case "$(readlink "/proc/$pid/exe" 2>/dev/null)" in *uwsgi*) true ;; *) false ;; esac; then
  # start.sh runs uwsgi with --die-on-term: SIGTERM to the master ends it and its workers.
  kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq 75); do [ -d "/proc/$pid" ] || break; sleep 0.2; done
  if [ -d "/proc/$pid" ]; then
    log "pid $pid still there after 15 s; killing its process group"
    kill -KILL -- "-$pid" 2>/dev/null || true
  fi
  log "stopped (pid $pid)"
else
  log "not running ($dir)"
fi
rm -f "$pidfile"

if [ "$purge" -eq 1 ] && [ -d "$dir" ]; then
  rm -rf -- "$dir"
  log "removed $dir"
fi
