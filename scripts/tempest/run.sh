#!/usr/bin/env bash
# Runs Tempest, OpenStack's conformance suite (Debian packages tempest and glance-tempest-plugin),
# against Ocellus through a real Keystone: tempest's image API tests (tempest.api.image.*) and the
# Glance plugin's RBAC tests (glance_tempest_plugin.tests.rbac.v2.*), which create fresh projects
# and users with the admin, member and reader roles (and a system-scoped admin) for every class.
#
#   bash scripts/tempest/run.sh
#
# What it does: installs the packages if missing; starts the private Keystone
# (scripts/keystone/start.sh, left running for the next run; scripts/keystone/stop.sh stops it);
# starts an Ocellus with [paste_deploy] flavor = keystone on a fresh data dir and points Keystone's
# image endpoint at it; writes a tempest workspace with a tempest.conf saying what Ocellus
# supports; runs the tests; prints the excluded tests (scripts/tempest/exclude-list.txt: features
# that land in later issues and that tempest has no flag for), the skipped ones with tempest's
# reasons, the failures, and as its last line
#   tempest: N passed, N failed, N skipped, N excluded
# Stops that Ocellus at the end. Exit status 1 when a test failed.
#
# Environment:
#   OCELLUS_BIN                  the Ocellus entry point run with node (default bin/ocellus.js, i.e. the
#                                build in dist/: run `npm run build` first); e.g. a file that imports
#                                main from another tsc outDir
#   OCELLUS_TEMPEST_PORT         port of that Ocellus on 127.0.0.1 (default: a free one)
#   OCELLUS_TEMPEST_DIR          work dir: Ocellus' config, data and log, the tempest workspace and its
#                                logs (default: a new /tmp/ocellus-tempest.XXXXXX, kept for inspection)
#   OCELLUS_TEMPEST_REGEX        test selection (default: the image API tests and the plugin's RBAC tests)
#   OCELLUS_TEMPEST_CONCURRENCY  tempest workers (default 2)
#   OCELLUS_TEMPEST_VERBOSE=1    also stream tempest's own per-test output (always in tempest-run.log)
#   OCELLUS_KEYSTONE_DIR, OCELLUS_KEYSTONE_PORT, OCELLUS_KEYSTONE_ADMIN_PASSWORD,
#   OCELLUS_KEYSTONE_SERVICE_PASSWORD   as for scripts/keystone/start.sh (default port 5050)
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
here="$root/scripts/tempest"
# Debian's tempest runs on the system python; a pyenv/virtualenv python3 first on PATH has no tempest modules.
py=/usr/bin/python3
t0=$SECONDS

log() { echo "tempest: $*" >&2; }
die() { log "ERROR: $*"; exit 1; }

# --- (a) the packages ---------------------------------------------------------------------------
bash "$root/scripts/install-test-deps.sh" tempest glance-tempest-plugin
command -v tempest >/dev/null 2>&1 || die "tempest is not installed"
command -v node >/dev/null 2>&1 || die "node is not on PATH"

# Everything here talks to loopback: never through a proxy.
export no_proxy="127.0.0.1,localhost${no_proxy:+,$no_proxy}" NO_PROXY="127.0.0.1,localhost${NO_PROXY:+,$NO_PROXY}"

bin="${OCELLUS_BIN:-$root/bin/ocellus.js}"
if [ -z "${OCELLUS_BIN:-}" ] && [ ! -e "$root/dist/src/cli/main.js" ]; then
  die "dist/ is not built: run \`npm run build\` first (or set OCELLUS_BIN)"
fi
[ -e "$bin" ] || die "OCELLUS_BIN $bin does not exist"

if [ -n "${OCELLUS_TEMPEST_DIR:-}" ]; then
  work="$(realpath -m "$OCELLUS_TEMPEST_DIR")"
  mkdir -p "$work"
  rm -rf -- "$work/data" "$work/workspace" "$work/workspace.yaml"
else
  work="$(mktemp -d /tmp/ocellus-tempest.XXXXXX)"
fi

port="${OCELLUS_TEMPEST_PORT:-$("$py" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')}"
image_url="http://127.0.0.1:$port"
log "work dir $work; Ocellus at $image_url"

# --- (b) Keystone, with its image endpoint at this Ocellus ------------------------------------------
keystone_out="$(OCELLUS_IMAGE_URL="$image_url" bash "$root/scripts/keystone/start.sh")" || die "scripts/keystone/start.sh failed"
value() { sed -n "s/^$1=//p" <<<"$keystone_out"; }
keystone_url="$(value OCELLUS_KEYSTONE_URL)"          # http://127.0.0.1:5050/v3
admin_password="$(value OCELLUS_KEYSTONE_ADMIN_PASSWORD)"
service_password="$(value OCELLUS_KEYSTONE_SERVICE_PASSWORD)"
[ -n "$keystone_url" ] || die "scripts/keystone/start.sh printed no OCELLUS_KEYSTONE_URL"

# --- (c) a web server for http locations, and Ocellus ----------------------------------------------
# Tempest's ImageLocationsTest adds [image] http_image as an image location: a file served on
# loopback, which Ocellus' http store may reach because http_store_allowed_networks says so.
mkdir -p "$work/www"
head -c 1048576 /dev/urandom >"$work/www/image.raw"
www_port="$("$py" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
"$py" -m http.server --bind 127.0.0.1 --directory "$work/www" "$www_port" >"$work/www.log" 2>&1 &
www_pid=$!
http_image="http://127.0.0.1:$www_port/image.raw"

cat >"$work/ocellus.conf" <<EOF
# Written by scripts/tempest/run.sh.
[DEFAULT]
bind_host = 127.0.0.1
bind_port = $port
show_multiple_locations = true

[glance_store]
stores = file, http
http_store_allowed_networks = 127.0.0.1/32

[paste_deploy]
flavor = keystone

[keystone_authtoken]
www_authenticate_uri = ${keystone_url%/v3}
auth_url = $keystone_url
username = ocellus
password = $service_password
project_name = service
EOF

ocellus_pid=""
stop_ocellus() {
  if [ -n "$ocellus_pid" ] && kill -0 "$ocellus_pid" 2>/dev/null; then
    kill -TERM "$ocellus_pid" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$ocellus_pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$ocellus_pid" 2>/dev/null || true
    wait "$ocellus_pid" 2>/dev/null || true
  fi
  ocellus_pid=""
}
stop_all() {
  stop_ocellus
  kill "$www_pid" 2>/dev/null || true
}
trap stop_all EXIT
trap 'exit 130' INT TERM

up() {
  "$py" - "$image_url/versions" <<'EOF' 2>/dev/null
import sys, urllib.request
urllib.request.build_opener(urllib.request.ProxyHandler({})).open(sys.argv[1], timeout=3).read()
EOF
}
up && die "something already answers at $image_url; choose another OCELLUS_TEMPEST_PORT"

node --initial-old-space-size=96 "$bin" serve --config "$work/ocellus.conf" --data-dir "$work/data" \
  </dev/null >"$work/ocellus.log" 2>&1 &
ocellus_pid=$!

for _ in $(seq 100); do
  up && break
  kill -0 "$ocellus_pid" 2>/dev/null || { tail -n 20 "$work/ocellus.log" >&2; die "Ocellus exited; see $work/ocellus.log"; }
  sleep 0.2
done
# Still ours answering (not another server that got the port first)?
up && kill -0 "$ocellus_pid" 2>/dev/null ||
  { tail -n 20 "$work/ocellus.log" >&2; die "Ocellus does not answer at $image_url; see $work/ocellus.log"; }
log "Ocellus up (pid $ocellus_pid, log $work/ocellus.log)"

# --- (d) the tempest workspace and its tempest.conf ----------------------------------------------
# --workspace-path keeps tempest from registering the workspace in ~/.tempest/workspace.yaml.
ws="$work/workspace"
tempest init --workspace-path "$work/workspace.yaml" "$ws" >"$work/tempest-init.log" 2>&1 ||
  { cat "$work/tempest-init.log" >&2; die "tempest init failed"; }

cat >"$ws/etc/tempest.conf" <<EOF
# Written by scripts/tempest/run.sh: Ocellus behind the private Keystone, nothing else.
[DEFAULT]
log_dir = $ws/logs
log_file = tempest.log

[oslo_concurrency]
lock_path = $ws/tempest_lock

[auth]
# Every test class gets fresh projects and users, made with Keystone's admin.
use_dynamic_credentials = true
admin_username = admin
admin_password = $admin_password
admin_project_name = admin
admin_domain_name = Default
admin_user_domain_name = Default
admin_project_domain_name = Default
# No extra roles: tempest adds these to every user it creates, the reader personas too. Users
# asked for with no role (primary, alt) get member, which Keystone expands to member and reader.
tempest_roles =
# No network resources: there is no neutron.
create_isolated_networks = false

[identity]
uri_v3 = $keystone_url
auth_version = v3
region = RegionOne
v3_endpoint_type = public

[identity-feature-enabled]
api_v2 = false
api_v3 = true

[enforce_scope]
# Ocellus enforces Glance's secure-RBAC defaults with scope checks ([oslo_policy] enforce_scope is
# true by default): this is what makes the plugin's RBAC tests run rather than skip.
glance = true
# start.sh's Keystone (Zed) keeps its own default enforce_scope = false, so tempest manages
# users and projects with the project-scoped admin.
keystone = false
nova = false
neutron = false
cinder = false

[service_available]
glance = true
nova = false
neutron = false
cinder = false
swift = false
horizon = false

[image]
catalog_type = image
region = RegionOne
endpoint_type = public
# No cache API yet (later issue).
image_caching_enabled = false
# The RBAC tests use the first of each list; all are among Ocellus' defaults.
container_formats = ami,ari,aki,bare,ovf,ova
disk_formats = ami,ari,aki,vhd,vmdk,raw,qcow2,vdi,iso,vhdx
build_timeout = 60
build_interval = 1
http_image = $http_image

[image-feature-enabled]
api_v2 = true
# Ocellus, like current Glance, has no v1 API.
api_v1 = false
# Interoperable image import (stage, glance-direct, web-download, copy-image, /v2/info/import)
# and multiple stores (/v2/info/stores) land in later issues.
import_image = false
# os_glance_* properties are reserved: create and PATCH answer 403, as Glance has since Wallaby.
os_glance_reserved = true
# Locations through PATCH (show_multiple_locations = true above), an http location on loopback.
manage_locations = true

[validation]
run_validation = false
EOF

# --- (e) the run -----------------------------------------------------------------------------------
regex="${OCELLUS_TEMPEST_REGEX:-^(tempest\.api\.image\.|glance_tempest_plugin\.tests\.rbac\.v2\.)}"
exclude="$here/exclude-list.txt"
(cd "$ws" && tempest run --list-tests --regex "$regex") >"$work/selected-tests.txt" 2>"$work/tempest-list.log" ||
  { tail -n 30 "$work/tempest-list.log" >&2; die "tempest run --list-tests failed"; }
log "$(grep -c '\.test_' "$work/selected-tests.txt" || true) tests selected by $regex, less those of scripts/tempest/exclude-list.txt; running them with concurrency ${OCELLUS_TEMPEST_CONCURRENCY:-2}, output in $work/tempest-run.log"

rc=0
if [ "${OCELLUS_TEMPEST_VERBOSE:-0}" = 1 ]; then
  (cd "$ws" && tempest run --regex "$regex" --exclude-list "$exclude" --concurrency "${OCELLUS_TEMPEST_CONCURRENCY:-2}") 2>&1 |
    tee "$work/tempest-run.log" >&2 || rc=$?
else
  (cd "$ws" && tempest run --regex "$regex" --exclude-list "$exclude" --concurrency "${OCELLUS_TEMPEST_CONCURRENCY:-2}") \
    >"$work/tempest-run.log" 2>&1 || rc=$?
fi
stop_ocellus

# --- (f) the summary -------------------------------------------------------------------------------
(cd "$ws" && stestr last --subunit) >"$work/results.subunit" 2>/dev/null ||
  { tail -n 40 "$work/tempest-run.log" >&2; die "no results (tempest run exited with $rc); see $work/tempest-run.log"; }
log "finished in $((SECONDS - t0)) s; logs: $work/tempest-run.log, $ws/logs/tempest.log, $work/ocellus.log"
status=0
"$py" "$here/summary.py" "$work/results.subunit" "$work/selected-tests.txt" "$exclude" || status=$?
if [ "$status" -eq 0 ] && [ "$rc" -ne 0 ]; then
  tail -n 40 "$work/tempest-run.log" >&2
  log "tempest run exited with $rc though no test failed; see $work/tempest-run.log"
  status=1
fi
exit "$status"
