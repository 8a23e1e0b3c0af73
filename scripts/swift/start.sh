#!/usr/bin/env bash
# Starts a private one-replica OpenStack Swift "all in one" (Debian's Swift 2.30) on loopback for
# the store tests: account, container and object servers plus a proxy with tempauth, s3api, slo and
# dlo, and a memcached for tempauth's tokens. The same proxy port serves the native Swift API and
# the S3 API (path-style, region us-east-1, SigV4). Idempotent: when the Swift of this state dir
# already answers, it only prints the lines below. Installs the packages if missing.
#
#   OCELLUS_SWIFT_DIR   state dir (configs, rings, devices, logs, pidfiles); default /tmp/ocellus-swift
#   OCELLUS_SWIFT_PORT  proxy port on 127.0.0.1; default 8380. The next four ports are taken too:
#                       +1 object, +2 container, +3 account, +4 memcached.
#
# Stdout is exactly these lines (also written to $OCELLUS_SWIFT_DIR/swift.env) for a caller to parse:
#   OCELLUS_SWIFT_AUTH_URL=http://127.0.0.1:8380/auth/v1.0
#   OCELLUS_SWIFT_USER=test:tester           tempauth user, .admin of account AUTH_test
#   OCELLUS_SWIFT_KEY=testing
#   OCELLUS_SWIFT_USER2=test2:tester2        a second account (AUTH_test2), .admin there
#   OCELLUS_SWIFT_KEY2=testing2
#   OCELLUS_SWIFT_STORAGE_URL=http://127.0.0.1:8380/v1/AUTH_test
#   OCELLUS_SWIFT_S3_ENDPOINT=http://127.0.0.1:8380
#   OCELLUS_SWIFT_S3_ACCESS_KEY=test:tester
#   OCELLUS_SWIFT_S3_SECRET_KEY=testing
#   OCELLUS_SWIFT_REGION=us-east-1
#   OCELLUS_SWIFT_MEMCACHED=127.0.0.1:8384
#   OCELLUS_SWIFT_MAX_FILE_SIZE=33554432     largest single object (32 MiB): bigger needs segments
# Everything else goes to stderr; the logs are in the state dir. scripts/swift/stop.sh stops it.
#
# Swift reads its constraints (max_file_size) and hash prefix/suffix from /etc/swift/swift.conf
# only; rather than rewrite that packaged file, each server runs through a small launcher that
# points Swift at the state dir's swift.conf before the servers load.
set -euo pipefail

dir="$(realpath -m "${OCELLUS_SWIFT_DIR:-/tmp/ocellus-swift}")"
port="${OCELLUS_SWIFT_PORT:-8380}"
host=127.0.0.1
object_port=$((port + 1))
container_port=$((port + 2))
account_port=$((port + 3))
memcached_port=$((port + 4))
max_file_size=$((32 * 1024 * 1024))
# Debian's swift is a module of the system python; a pyenv/virtualenv python3 first on PATH has none.
py=/usr/bin/python3

log() { echo "swift: $*" >&2; }
die() { log "ERROR: $*"; exit 1; }

# Test processes may call this at the same time (the swift and s3 store tests): one starts it,
# the others wait here and then find it running.
mkdir -p "$(dirname "$dir")"
exec 9>"$dir.lock"
flock -w 300 9 || die "another start.sh held $dir.lock for 5 minutes"

facts() {
  cat <<EOF
OCELLUS_SWIFT_AUTH_URL=http://$host:$port/auth/v1.0
OCELLUS_SWIFT_USER=test:tester
OCELLUS_SWIFT_KEY=testing
OCELLUS_SWIFT_USER2=test2:tester2
OCELLUS_SWIFT_KEY2=testing2
OCELLUS_SWIFT_STORAGE_URL=http://$host:$port/v1/AUTH_test
OCELLUS_SWIFT_S3_ENDPOINT=http://$host:$port
OCELLUS_SWIFT_S3_ACCESS_KEY=test:tester
OCELLUS_SWIFT_S3_SECRET_KEY=testing
OCELLUS_SWIFT_REGION=us-east-1
OCELLUS_SWIFT_MEMCACHED=$host:$memcached_port
OCELLUS_SWIFT_MAX_FILE_SIZE=$max_file_size
EOF
}

# Whether the proxy answers /healthcheck and tempauth hands out a token (which needs memcached
# and the account/container servers behind it to be reachable for the storage URL to work).
answers() {
  "$py" - "$host" "$port" <<'EOF' 2>/dev/null
import sys, urllib.request
host, port = sys.argv[1:3]
# No proxy: it is on loopback, whatever http_proxy says.
opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
with opener.open(f"http://{host}:{port}/healthcheck", timeout=3) as r:
    assert r.read().strip() == b"OK"
req = urllib.request.Request(f"http://{host}:{port}/auth/v1.0",
                             headers={"X-Auth-User": "test:tester", "X-Auth-Key": "testing"})
with opener.open(req, timeout=5) as r:
    token, storage = r.headers["X-Auth-Token"], r.headers["X-Storage-Url"]
# An account HEAD goes through proxy -> account server (autocreated): the whole chain is up.
with opener.open(urllib.request.Request(storage, method="HEAD", headers={"X-Auth-Token": token}), timeout=5) as r:
    assert r.status in (200, 204)
EOF
}

servers=(memcached proxy object container account)

# The pid of a server of this state dir, if it is alive and is what we started (its command line
# names the state dir, so a recycled pid is not mistaken for it).
running_pid() {
  local pidfile="$dir/run/$1.pid" pid
  [ -s "$pidfile" ] || return 1
  pid="$(cat "$pidfile")"
  tr '\0' ' ' 2>/dev/null <"/proc/$pid/cmdline" | grep -qF "$dir" || return 1
  echo "$pid"
}

stop_all() {
  local s pid
  for s in "${servers[@]}"; do
    if pid="$(running_pid "$s")"; then kill -TERM "$pid" 2>/dev/null || true; fi
  done
  for s in "${servers[@]}"; do
    if pid="$(running_pid "$s")"; then
      for _ in $(seq 50); do [ -d "/proc/$pid" ] || break; sleep 0.1; done
      kill -KILL "$pid" 2>/dev/null || true
    fi
    rm -f "$dir/run/$s.pid"
  done
}

# --- already up? -----------------------------------------------------------------------------
if [ -x "$py" ] && running_pid proxy >/dev/null && answers; then
  log "already running at http://$host:$port (state in $dir)"
  facts
  exit 0
fi

# --- the packages ----------------------------------------------------------------------------
# python3-swift + memcached are what runs; the swift-* packages are what the issue names (they add
# wrapper scripts); installed together they take ~30 s once.
bash "$(dirname "${BASH_SOURCE[0]}")/../install-test-deps.sh" python3-swift memcached swift swift-proxy swift-account swift-container swift-object
[ -x /usr/bin/swift-ring-builder ] || die "/usr/bin/swift-ring-builder missing (is python3-swift installed?)"
[ -x /usr/bin/memcached ] || die "/usr/bin/memcached missing (is memcached installed?)"

t0=$SECONDS
if running_pid proxy >/dev/null || running_pid memcached >/dev/null; then
  log "the Swift of $dir does not answer; restarting it"
  stop_all
fi
if answers; then
  die "something else already answers at http://$host:$port (not the Swift of $dir); choose another OCELLUS_SWIFT_PORT"
fi

mkdir -p "$dir"/{run,log,srv/d1}
chmod 700 "$dir"
user="$(id -un)"

# Swift keeps object metadata in user xattrs: check the devices dir has them.
"$py" -c 'import os, sys; os.setxattr(sys.argv[1], "user.ocellus-test", b"1"); os.removexattr(sys.argv[1], "user.ocellus-test")' "$dir/srv/d1" ||
  die "$dir is on a filesystem without user xattrs (Swift needs them); set OCELLUS_SWIFT_DIR to a dir on ext4/xfs"

# --- configuration (rewritten on every start) --------------------------------------------------
cat >"$dir/swift.conf" <<EOF
# Written by scripts/swift/start.sh; rewritten on every start.
[swift-hash]
swift_hash_path_prefix = ocellus-test-prefix
swift_hash_path_suffix = ocellus-test-suffix

[storage-policy:0]
name = Policy-0
default = yes

[swift-constraints]
# Small, so that tests exercise the large-object paths with little data.
max_file_size = $max_file_size
EOF

common() {
  cat <<EOF
[DEFAULT]
bind_ip = $host
bind_port = $1
workers = 0
user = $user
swift_dir = $dir
devices = $dir/srv
mount_check = false
log_name = $2
log_facility = LOG_LOCAL0
log_level = INFO
EOF
}

{ common "$account_port" account; cat <<EOF
[pipeline:main]
pipeline = healthcheck account-server
[app:account-server]
use = egg:swift#account
[filter:healthcheck]
use = egg:swift#healthcheck
EOF
} >"$dir/account-server.conf"

{ common "$container_port" container; cat <<EOF
[pipeline:main]
pipeline = healthcheck container-server
[app:container-server]
use = egg:swift#container
[filter:healthcheck]
use = egg:swift#healthcheck
EOF
} >"$dir/container-server.conf"

{ common "$object_port" object; cat <<EOF
[pipeline:main]
pipeline = healthcheck object-server
[app:object-server]
use = egg:swift#object
[filter:healthcheck]
use = egg:swift#healthcheck
EOF
} >"$dir/object-server.conf"

# Pipeline order matters: s3api before tempauth (it turns S3 signatures into tempauth checks), slo
# after s3api (else S3 multipart upload is silently off), dlo after slo. tempauth keeps its tokens
# in memcached (without it every auth answers 503).
{ common "$port" proxy; cat <<EOF
[pipeline:main]
pipeline = catch_errors gatekeeper healthcheck proxy-logging cache listing_formats bulk s3api tempauth copy slo dlo versioned_writes symlink proxy-logging proxy-server

[app:proxy-server]
use = egg:swift#proxy
account_autocreate = true
allow_account_management = true
# One replica on one device: no handoffs to wait for.
recoverable_node_timeout = 10
node_timeout = 10
conn_timeout = 2

[filter:tempauth]
use = egg:swift#tempauth
user_test_tester = testing .admin
user_test2_tester2 = testing2 .admin
# Not an admin: no rights in AUTH_test unless a container ACL grants them.
user_test_reader = reading
storage_url_scheme = default

[filter:s3api]
use = egg:swift#s3api
location = us-east-1
# Path-style only: no storage_domain.
storage_domain =
dns_compliant_bucket_names = false
s3_acl = false

[filter:cache]
use = egg:swift#memcache
memcache_servers = $host:$memcached_port

[filter:catch_errors]
use = egg:swift#catch_errors
[filter:gatekeeper]
use = egg:swift#gatekeeper
[filter:healthcheck]
use = egg:swift#healthcheck
[filter:proxy-logging]
use = egg:swift#proxy_logging
[filter:listing_formats]
use = egg:swift#listing_formats
[filter:bulk]
use = egg:swift#bulk
[filter:copy]
use = egg:swift#copy
[filter:slo]
use = egg:swift#slo
[filter:dlo]
use = egg:swift#dlo
[filter:versioned_writes]
use = egg:swift#versioned_writes
allow_versioned_writes = true
[filter:symlink]
use = egg:swift#symlink
EOF
} >"$dir/proxy-server.conf"

# The launcher: Swift reads constraints and the hash prefix/suffix from /etc/swift/swift.conf at
# import; point it at ours (set_swift_dir) and reload both before the server's modules load.
cat >"$dir/run-server.py" <<'EOF'
# Written by scripts/swift/start.sh; rewritten on every start.
import sys

from swift.common import utils

swift_dir, conf_file, server = sys.argv[1:4]
utils.set_swift_dir(swift_dir)
from swift.common import constraints, storage_policy  # noqa: E402

constraints.reload_constraints()
storage_policy.reload_storage_policies()
from swift.common.wsgi import run_wsgi  # noqa: E402

# verbose: logs also go to stderr, i.e. to the log file of the state dir (there is no syslog here).
kwargs = {"verbose": True}
if server == "object-server":
    from swift.obj import server as obj_server  # noqa: E402

    kwargs["global_conf_callback"] = obj_server.global_conf_callback
sys.exit(run_wsgi(conf_file, server, **kwargs))
EOF

# --- rings: one device, one replica, part power 8 -------------------------------------------
make_ring() {
  local kind="$1" ring_port="$2" builder="$dir/$1.builder"
  rm -f "$builder" "$dir/$kind.ring.gz"
  {
    swift-ring-builder "$builder" create 8 1 1
    swift-ring-builder "$builder" add "r1z1-$host:$ring_port/d1" 100
    swift-ring-builder "$builder" rebalance
  } >>"$dir/log/rings.log" 2>&1 || { tail -n 20 "$dir/log/rings.log" >&2; die "swift-ring-builder $kind failed"; }
}
# Kept from an earlier start when the ports are the same (building them costs ~5 s of CPU).
if [ "$(cat "$dir/rings.stamp" 2>/dev/null)" != "$port" ] || [ ! -s "$dir/object.ring.gz" ]; then
  : >"$dir/log/rings.log"
  make_ring account "$account_port"
  make_ring container "$container_port"
  make_ring object "$object_port"
  echo "$port" >"$dir/rings.stamp"
fi

# --- start -----------------------------------------------------------------------------------
# setsid + nohup + no inherited stdio: they outlive this script and its caller's pipes.
launch() {
  local name="$1"
  shift
  : >"$dir/log/$name.log"
  setsid nohup "$@" </dev/null >>"$dir/log/$name.log" 2>&1 9>&- &
  echo $! >"$dir/run/$name.pid"
}
log "starting in $dir (proxy on $host:$port)"
# The state dir appears in memcached's command line through -P, so running_pid recognises it.
launch memcached memcached -l "$host" -p "$memcached_port" -U 0 -m 64 -c 1024 -u "$user" -P "$dir/run/memcached.own.pid"
for s in account container object proxy; do
  launch "$s" "$py" "$dir/run-server.py" "$dir" "$dir/$s-server.conf" "$s-server"
done
log "started, waiting for it to answer"

ok=0
for _ in $(seq 200); do
  sleep 0.25
  for s in "${servers[@]}"; do
    if ! running_pid "$s" >/dev/null; then
      tail -n 30 "$dir/log/$s.log" >&2
      stop_all
      die "the $s server exited at start; see $dir/log/$s.log"
    fi
  done
  if answers; then ok=1; break; fi
done
if [ "$ok" -ne 1 ]; then
  for s in proxy account container object; do echo "--- $s.log" >&2; tail -n 10 "$dir/log/$s.log" >&2; done
  stop_all
  die "no answer at http://$host:$port after 50 s; see the logs in $dir/log"
fi
facts >"$dir/swift.env"
log "up at http://$host:$port after $((SECONDS - t0)) s"
facts
