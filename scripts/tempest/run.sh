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
# starts an Ocellus with [paste_deploy] flavor = keystone+caching on a fresh data dir and points Keystone's
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
bash "$root/scripts/install-test-deps.sh" tempest glance-tempest-plugin glance-common
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
  rm -rf -- "$work/data" "$work/data-remote" "$work/data-multi" "$work/workspace" "$work/workspace.yaml" "$work"/*.log "$work"/*.subunit
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

# One node's configuration: node_conf PORT MULTI DATA. Both nodes share the database and the image
# store (the second reaches the first's SQLite file and image directory), each has its own staging
# directory under its own data dir and names itself in worker_self_reference_url, as Glance's nodes
# do: an import whose data is staged on the other node is forwarded there. web-download may fetch
# [image] http_image from loopback (allowed_networks; allowed_ports empty: any port). MULTI=1: the
# multi-store node of the second pass (two file stores and the http store). DATA: the directory of
# the database and the image store.
node_conf() {
  local node_port="$1" multi="$2" data="$3"
  cat <<EOF
# Written by scripts/tempest/run.sh.
[DEFAULT]
bind_host = 127.0.0.1
bind_port = $node_port
show_multiple_locations = true
enabled_import_methods = glance-direct, web-download, copy-image, glance-download
worker_self_reference_url = http://127.0.0.1:$node_port
# test_image_caching queues an image, checks it is listed as queued, then waits for the prefetcher.
cache_prefetcher_interval = 10
EOF
  if [ "$multi" = 1 ]; then
    cat <<EOF
# Listed in alphabetical order: tempest waits for an image's stores to equal the sorted ids of
# the stores it imported into, and Ocellus (like Glance, for stores of equal weight) shows them in
# the order they were written, which for all_stores and for the list tempest sends is this order.
enabled_backends = cheap:file, fast:file, web:http

[glance_store]
default_backend = fast

[fast]
filesystem_store_datadir = $data/fast
store_description = Fast disks

[cheap]
filesystem_store_datadir = $data/cheap
store_description = Cheap disks

[web]
http_store_allowed_networks = 127.0.0.1/32
EOF
  else
    cat <<EOF

[glance_store]
stores = file, http
filesystem_store_datadir = $data/images
http_store_allowed_networks = 127.0.0.1/32
EOF
  fi
  cat <<EOF

[database]
connection = sqlite:///$data/ocellus.db

[import_filtering_opts]
allowed_networks = 127.0.0.1/32
allowed_ports =

# Keystone, and the image cache (each node's under its own data dir, <data dir>/image-cache) as
# Glance runs it with this flavor: downloads through the cache, the /v2/cache API (v2.14).
[paste_deploy]
flavor = keystone+caching

[keystone_authtoken]
www_authenticate_uri = ${keystone_url%/v3}
auth_url = $keystone_url
username = ocellus
password = $service_password
project_name = service
EOF
}

# Two nodes: "main" (the catalog's image endpoint, $image_url) and "remote" (the catalog's
# image_remote endpoint, [image] alternate_image_endpoint: tempest's test_remote_import and
# test_remote_delete stage on one and import or delete on the other).
declare -A node_pid=()
stop_node() {
  local pid="${node_pid[$1]:-}"
  if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  fi
  node_pid[$1]=""
}
stop_ocellus() {
  stop_node remote
  stop_node main
}
stop_all() {
  stop_ocellus
  kill "$www_pid" 2>/dev/null || true
}
trap stop_all EXIT
trap 'exit 130' INT TERM

up() {
  "$py" - "$1/versions" <<'EOF' 2>/dev/null
import sys, urllib.request
urllib.request.build_opener(urllib.request.ProxyHandler({})).open(sys.argv[1], timeout=3).read()
EOF
}

# start_node NAME PORT DATA_DIR [MULTI [SHARED]]: writes $work/NAME.conf, starts that node on
# DATA_DIR with the database and image store of SHARED (default DATA_DIR), waits until it answers.
start_node() {
  local name="$1" node_port="$2" data="$3" multi="${4:-0}" shared="${5:-$3}" url="http://127.0.0.1:$2"
  up "$url" && die "something already answers at $url; choose another OCELLUS_TEMPEST_PORT"
  node_conf "$node_port" "$multi" "$shared" >"$work/$name.conf"
  node --initial-old-space-size=96 "$bin" serve --config "$work/$name.conf" --data-dir "$data" \
    </dev/null >>"$work/$name.log" 2>&1 &
  node_pid[$name]=$!
  for _ in $(seq 100); do
    up "$url" && break
    kill -0 "${node_pid[$name]}" 2>/dev/null || { tail -n 20 "$work/$name.log" >&2; die "Ocellus ($name) exited; see $work/$name.log"; }
    sleep 0.2
  done
  # Still ours answering (not another server that got the port first)?
  up "$url" && kill -0 "${node_pid[$name]}" 2>/dev/null ||
    { tail -n 20 "$work/$name.log" >&2; die "Ocellus ($name) does not answer at $url; see $work/$name.log"; }
  log "Ocellus $name up at $url (pid ${node_pid[$name]}, log $work/$name.log)"
}

remote_port="$("$py" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
# The main node creates the database; the remote one starts on it afterwards.
start_node main "$port" "$work/data"
# Glance's definitions catalogue, as devstack loads it (glance-manage db_load_metadefs): tempest's
# metadefs tests take the first of GET /v2/metadefs/resource_types. Loading again skips what exists.
node "$bin" manage --config "$work/main.conf" --data-dir "$work/data" db load_metadefs --path /usr/share/glance-common/metadefs \
  >>"$work/main.log" 2>&1 || die "ocellus manage db load_metadefs failed; see $work/main.log"
start_node remote "$remote_port" "$work/data-remote" 0 "$work/data"

# The remote node in Keystone's catalog, as devstack registers Glance's second worker: a service of
# type image_remote with a public endpoint in RegionOne (created once, its URL updated every run).
"$py" - "$keystone_url" "$admin_password" "http://127.0.0.1:$remote_port" <<'EOF' || die "could not register the image_remote endpoint in Keystone"
import json, sys, urllib.request
url, password, remote = sys.argv[1:4]
opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
def call(method, path, body=None, token=None):
    req = urllib.request.Request(url + path, method=method, data=None if body is None else json.dumps(body).encode(),
                                 headers={"Content-Type": "application/json", **({"X-Auth-Token": token} if token else {})})
    with opener.open(req, timeout=30) as r:
        return r.headers, json.loads(r.read() or b"null")
headers, _ = call("POST", "/auth/tokens", {"auth": {"identity": {"methods": ["password"], "password": {"user": {
    "name": "admin", "domain": {"id": "default"}, "password": password}}},
    "scope": {"project": {"name": "admin", "domain": {"id": "default"}}}}})
token = headers["X-Subject-Token"]
services = call("GET", "/services?type=image_remote", token=token)[1]["services"]
service = services[0]["id"] if services else call("POST", "/services", {"service": {
    "type": "image_remote", "name": "ocellus_remote", "description": "Ocellus' second node, for tempest"}}, token=token)[1]["service"]["id"]
endpoints = [e for e in call("GET", f"/endpoints?service_id={service}&interface=public", token=token)[1]["endpoints"]
             if e.get("region_id") == "RegionOne"]
if endpoints:
    if endpoints[0]["url"] != remote:
        call("PATCH", f"/endpoints/{endpoints[0]['id']}", {"endpoint": {"url": remote}}, token=token)
else:
    call("POST", "/endpoints", {"endpoint": {"service_id": service, "interface": "public", "region_id": "RegionOne",
                                             "url": remote}}, token=token)
EOF

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
# The image cache API (flavor keystone+caching above): test_image_caching runs.
image_caching_enabled = true
# The RBAC tests use the first of each list; all are among Ocellus' defaults.
container_formats = ami,ari,aki,bare,ovf,ova
disk_formats = ami,ari,aki,vhd,vmdk,raw,qcow2,vdi,iso,vhdx
build_timeout = 60
build_interval = 1
http_image = $http_image
# The second node, a service of type image_remote in the catalog (see above).
alternate_image_endpoint = image_remote
alternate_image_endpoint_type = public

[image-feature-enabled]
api_v2 = true
# Ocellus, like current Glance, has no v1 API.
api_v1 = false
# Interoperable import: glance-direct, web-download of http_image (allowed on loopback by
# [import_filtering_opts]), glance-download from this region's own image endpoint, copy-image.
import_image = true
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

# tempest_pass LOG ARGS…: one `tempest run`, its output in LOG (and on stderr with VERBOSE=1); rc
# keeps the first failure's exit status.
rc=0
tempest_pass() {
  local out="$1"; shift
  local pass_rc=0
  if [ "${OCELLUS_TEMPEST_VERBOSE:-0}" = 1 ]; then
    (cd "$ws" && tempest run "$@" --concurrency "${OCELLUS_TEMPEST_CONCURRENCY:-2}") 2>&1 | tee "$out" >&2 || pass_rc=$?
  else
    (cd "$ws" && tempest run "$@" --concurrency "${OCELLUS_TEMPEST_CONCURRENCY:-2}") >"$out" 2>&1 || pass_rc=$?
  fi
  [ "$rc" -ne 0 ] || rc=$pass_rc
}

# The multi-store tests (importing into several stores, copy-image, a web-download into a named
# store that fails) need an Ocellus with stores (/v2/info/stores); on a single store they only skip. The first pass leaves them out, and a second,
# narrow pass runs them (those the regex selects) against a multi-store node on the same port: a
# fresh database and stores under data-multi/, no second node.
multi='^tempest\.api\.image\.v2\.(test_images\.MultiStoresImportImagesTest|test_images_negative\.ImportImagesNegativeTest|admin\.test_images\.ImportCopyImagesTest)\.'
{ cat "$exclude"; echo "$multi # run in the multi-store pass"; } >"$work/exclude-single-store.txt"
: >"$work/results.subunit"
# (Counted, not `| grep -q`: under pipefail grep -q's early exit can SIGPIPE the first grep and
# make the condition false, which silently skipped the whole first pass.)
first_pass=$(grep -vE "$multi" "$work/selected-tests.txt" | grep -c '\.test_' || true)
if [ "$first_pass" -gt 0 ]; then
  tempest_pass "$work/tempest-run.log" --regex "$regex" --exclude-list "$work/exclude-single-store.txt"
  (cd "$ws" && stestr last --subunit) >"$work/results.subunit" 2>/dev/null ||
    { tail -n 40 "$work/tempest-run.log" >&2; die "no results (tempest run exited with $rc); see $work/tempest-run.log"; }
fi
stop_ocellus

if grep -qE "$multi" "$work/selected-tests.txt"; then
  log "multi-store pass: $(grep -cE "$multi" "$work/selected-tests.txt") tests, output in $work/tempest-run-multi.log"
  start_node main "$port" "$work/data-multi" 1
  # Both regexes anchor at the start: the lookahead keeps the tests of the first among the second's.
  tempest_pass "$work/tempest-run-multi.log" --regex "(?=$regex)$multi" --exclude-list "$exclude"
  (cd "$ws" && stestr last --subunit) >>"$work/results.subunit" 2>/dev/null ||
    { tail -n 40 "$work/tempest-run-multi.log" >&2; die "no results from the multi-store pass; see $work/tempest-run-multi.log"; }
  stop_ocellus
fi

# --- (f) the summary -------------------------------------------------------------------------------
log "finished in $((SECONDS - t0)) s; logs: $work/tempest-run.log, $ws/logs/tempest.log, $work/main.log, $work/remote.log"
status=0
"$py" "$here/summary.py" "$work/results.subunit" "$work/selected-tests.txt" "$exclude" || status=$?
if [ "$status" -eq 0 ] && [ "$rc" -ne 0 ]; then
  tail -n 40 "$work/tempest-run.log" >&2
  log "tempest run exited with $rc though no test failed; see $work/tempest-run.log"
  status=1
fi
exit "$status"
