#!/usr/bin/env bash
# Starts a private OpenStack Barbican (Debian's `barbican-api` package) on loopback for the signed
# image tests: under uwsgi, a SQLite database, the simple_crypto plugin (the package's default
# secret store), keystonemiddleware against the test Keystone (scripts/keystone/start.sh, started
# first when OCELLUS_KEYSTONE_URL is not set), and a `key-manager` service with its public endpoint
# in that Keystone's catalogue. Idempotent: when the Barbican of this state dir already answers, it
# only checks the catalogue and prints the line below. Installs the package if missing.
#
#   OCELLUS_BARBICAN_DIR   state dir (config, SQLite db, logs, pidfile); default /tmp/ocellus-barbican
#   OCELLUS_BARBICAN_PORT  port on 127.0.0.1; default 9311
#   OCELLUS_KEYSTONE_URL, OCELLUS_KEYSTONE_ADMIN_PASSWORD, OCELLUS_KEYSTONE_SERVICE_PASSWORD: as
#                          scripts/keystone/start.sh prints them (Barbican validates tokens as the
#                          service user `ocellus`; admin registers the endpoint)
#
# Stdout is exactly one line for a caller to parse:
#   OCELLUS_BARBICAN_URL=http://127.0.0.1:9311
# Everything else goes to stderr; the logs are in the state dir. scripts/barbican/stop.sh stops it.
set -euo pipefail

here="$(dirname "${BASH_SOURCE[0]}")"
dir="$(realpath -m "${OCELLUS_BARBICAN_DIR:-/tmp/ocellus-barbican}")"
port="${OCELLUS_BARBICAN_PORT:-9311}"
host=127.0.0.1
url="http://$host:$port"
py=/usr/bin/python3

log() { echo "barbican: $*" >&2; }
die() { log "ERROR: $*"; exit 1; }
# shellcheck source=../lib/await-uwsgi.sh
. "$here/../lib/await-uwsgi.sh"

bash "$here/../install-test-deps.sh" barbican-api uwsgi-plugin-python3
[ -d /usr/lib/python3/dist-packages/barbican ] || die "the barbican python package is missing (is Debian's barbican-api installed?)"

if [ -z "${OCELLUS_KEYSTONE_URL:-}" ]; then
  # Its three lines are KEY=value: read them into this shell.
  while IFS='=' read -r k v; do export "$k=$v"; done < <(bash "$here/../keystone/start.sh")
fi
[ -n "${OCELLUS_KEYSTONE_URL:-}" ] || die "no Keystone (scripts/keystone/start.sh printed no OCELLUS_KEYSTONE_URL)"
keystone="$OCELLUS_KEYSTONE_URL"
admin_password="${OCELLUS_KEYSTONE_ADMIN_PASSWORD:-admin-secret}"
service_password="${OCELLUS_KEYSTONE_SERVICE_PASSWORD:-ocellus-secret}"

# Whether GET $url answers with Barbican's version document.
answers() {
  "$py" - "$url" <<'EOF' 2>/dev/null
import json, sys, urllib.error, urllib.request
# Its version document comes with 300 Multiple Choices.
try:
    r = urllib.request.build_opener(urllib.request.ProxyHandler({})).open(sys.argv[1], timeout=3)
except urllib.error.HTTPError as e:
    r = e
assert "versions" in json.load(r)
EOF
}

pidfile="$dir/uwsgi.pid"
running_pid() {
  [ -s "$pidfile" ] || return 1
  local pid
  pid="$(cat "$pidfile")"
  [ "$(readlink "/proc/$pid/cwd" 2>/dev/null)" = "$dir" ] || return 1
  case "$(readlink "/proc/$pid/exe" 2>/dev/null)" in *uwsgi*) ;; *) return 1 ;; esac
  echo "$pid"
}

# What it was started with, this script included: a changed configuration restarts it.
stamp="$( (printf '%s\n' "$port" "$keystone" "$service_password"; cat "${BASH_SOURCE[0]}") | sha256sum | cut -c1-64)"
if pid="$(running_pid)" && answers; then
  if [ "$(cat "$dir/provisioned" 2>/dev/null)" = "$stamp" ]; then
    log "already running (pid $pid) at $url"
    echo "OCELLUS_BARBICAN_URL=$url"
    exit 0
  fi
  log "already running (pid $pid) at $url with other settings; restarting it"
  kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq 50); do [ -d "/proc/$pid" ] || break; sleep 0.2; done
elif pid="$(running_pid)"; then
  log "pid $pid of $dir does not answer at $url; restarting it"
  kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq 50); do [ -d "/proc/$pid" ] || break; sleep 0.2; done
  kill -KILL -- "-$pid" 2>/dev/null || true
fi
answers && die "something else already answers at $url (not the Barbican of $dir); choose another OCELLUS_BARBICAN_PORT"
t0=$SECONDS
mkdir -p "$dir"
chmod 700 "$dir"
rm -f "$dir/provisioned"

# The master key of simple_crypto (a Fernet key), made once per state dir: secrets stored earlier stay readable.
[ -s "$dir/kek" ] || "$py" -c 'import base64, os; print(base64.urlsafe_b64encode(os.urandom(32)).decode())' >"$dir/kek"
chmod 600 "$dir/kek"

cat >"$dir/barbican.conf" <<EOF
# Written by scripts/barbican/start.sh; rewritten on every start.
[DEFAULT]
host_href = $url
sql_connection = sqlite:///$dir/barbican.db
db_auto_create = True
log_file = $dir/barbican.log

[secretstore]
enabled_secretstore_plugins = store_crypto

[crypto]
enabled_crypto_plugins = simple_crypto

[simple_crypto_plugin]
kek = $(cat "$dir/kek")

[keystone_authtoken]
www_authenticate_uri = $keystone
auth_url = $keystone
auth_type = password
username = ocellus
password = $service_password
user_domain_name = Default
project_name = service
project_domain_name = Default
service_token_roles_required = True

[keystone_notifications]
enable = False

[oslo_policy]
policy_dirs = /etc/barbican/policy.d
# Secure RBAC: a project's member stores and reads its secrets (the legacy rules want role creator).
enforce_new_defaults = True
enforce_scope = True
EOF
chmod 600 "$dir/barbican.conf"

# The WSGI entry point: the package's paste pipeline (authtoken, context, the v1 API), with this
# state dir's configuration instead of /etc/barbican/barbican.conf (barbican parses its default
# files when imported; they are parsed again here with this one only).
cat >"$dir/barbican-wsgi.py" <<EOF
# Written by scripts/barbican/start.sh; rewritten on every start.
from barbican.common import config
config.CONF(args=["--config-file", "$dir/barbican.conf"], project="barbican", default_config_files=[])
from paste import deploy
application = deploy.loadapp("config:/etc/barbican/barbican-api-paste.ini")
EOF

log "starting uwsgi on $host:$port"
: >"$dir/uwsgi.log"
# lazy-apps: each worker opens its own SQLite connections (none is shared across the fork).
setsid nohup uwsgi \
  --plugins python3 \
  --http-socket "$host:$port" \
  --wsgi-file "$dir/barbican-wsgi.py" \
  --chdir "$dir" \
  --master --processes 2 --threads 1 --lazy-apps \
  --die-on-term --no-orphans \
  --buffer-size 65535 --add-header "Connection: close" \
  --procname-prefix-spaced "ocellus-barbican:$port" \
  --pidfile "$pidfile" \
  </dev/null >>"$dir/uwsgi.log" 2>&1 &
await_uwsgi $! "$dir" "$dir/barbican.log"
log "up at $url after $((SECONDS - t0)) s (pid $(cat "$pidfile"))"

# The key-manager service and its public endpoint in the catalogue (Castellan and Ocellus find Barbican there).
"$py" - "$keystone" "$admin_password" "$url" <<'EOF' >&2
import json, sys, urllib.error, urllib.request
keystone, admin_password, barbican_url = sys.argv[1:4]
opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))

def call(method, path, body=None, token=None, expect=(200, 201, 204)):
    req = urllib.request.Request(keystone + path, method=method, data=None if body is None else json.dumps(body).encode())
    req.add_header("Content-Type", "application/json")
    if token:
        req.add_header("X-Auth-Token", token)
    try:
        with opener.open(req, timeout=30) as r:
            status, headers, raw = r.status, r.headers, r.read()
    except urllib.error.HTTPError as e:
        status, headers, raw = e.code, e.headers, e.read()
    if status not in expect:
        sys.exit(f"barbican: {method} {path} -> {status}: {raw[:500]!r}")
    return status, headers, (json.loads(raw) if raw else None)

body = {"auth": {"identity": {"methods": ["password"], "password": {"user": {"name": "admin", "domain": {"id": "default"}, "password": admin_password}}},
                 "scope": {"project": {"name": "admin", "domain": {"id": "default"}}}}}
_, headers, _ = call("POST", "/auth/tokens", body, expect=(201,))
token = headers["X-Subject-Token"]
services = call("GET", "/services?type=key-manager", token=token)[2]["services"]
if services:
    service = services[0]["id"]
else:
    print("barbican: creating the key-manager service", file=sys.stderr)
    service = call("POST", "/services", {"service": {"name": "barbican", "type": "key-manager", "description": "Barbican (Ocellus tests)"}}, token=token, expect=(201,))[2]["service"]["id"]
endpoints = call("GET", f"/endpoints?service_id={service}&interface=public", token=token)[2]["endpoints"]
if not endpoints:
    print(f"barbican: creating the public key-manager endpoint {barbican_url}", file=sys.stderr)
    call("POST", "/endpoints", {"endpoint": {"service_id": service, "interface": "public", "region_id": "RegionOne", "url": barbican_url}}, token=token, expect=(201,))
for e in endpoints:
    if e["url"] != barbican_url or not e.get("enabled", True):
        call("PATCH", f"/endpoints/{e['id']}", {"endpoint": {"url": barbican_url, "enabled": True}}, token=token)
EOF

echo "$stamp" >"$dir/provisioned"
log "ready after $((SECONDS - t0)) s: key-manager endpoint $url"
echo "OCELLUS_BARBICAN_URL=$url"
