#!/usr/bin/env bash
# Starts a private OpenStack Keystone (Debian's `keystone` package) on loopback for the tests, and
# provisions what Ocellus needs in it. Idempotent: when the Keystone of this state dir already
# answers and was provisioned with the same settings, it only prints the lines below (changed
# passwords or image URL are applied to the running Keystone). Installs the package if missing.
#
#   OCELLUS_KEYSTONE_DIR             state dir (config, SQLite db, keys, logs, pidfile); default /tmp/ocellus-keystone
#   OCELLUS_KEYSTONE_PORT            port on 127.0.0.1; default 5050
#   OCELLUS_KEYSTONE_ADMIN_PASSWORD  password of `admin` (admin of project `admin` and of the system); default admin-secret
#   OCELLUS_KEYSTONE_SERVICE_PASSWORD password of the service user `ocellus`; default ocellus-secret
#   OCELLUS_IMAGE_URL                public endpoint of the `image` service in the catalogue; default http://127.0.0.1:9292
#
# Stdout is exactly three lines for a caller to parse:
#   OCELLUS_KEYSTONE_URL=http://127.0.0.1:5050/v3
#   OCELLUS_KEYSTONE_ADMIN_PASSWORD=...
#   OCELLUS_KEYSTONE_SERVICE_PASSWORD=...
# Everything else goes to stderr; the logs are in the state dir. scripts/keystone/stop.sh stops it.
set -euo pipefail

dir="$(realpath -m "${OCELLUS_KEYSTONE_DIR:-/tmp/ocellus-keystone}")"
port="${OCELLUS_KEYSTONE_PORT:-5050}"
host=127.0.0.1
admin_password="${OCELLUS_KEYSTONE_ADMIN_PASSWORD:-admin-secret}"
service_password="${OCELLUS_KEYSTONE_SERVICE_PASSWORD:-ocellus-secret}"
image_url="${OCELLUS_IMAGE_URL:-http://127.0.0.1:9292}"
url="http://$host:$port/v3"
# Debian's keystone runs on the system python; a pyenv/virtualenv python3 first on PATH has no keystone module.
py=/usr/bin/python3

log() { echo "keystone: $*" >&2; }
die() { log "ERROR: $*"; exit 1; }
# shellcheck source=../lib/await-uwsgi.sh
. "$(dirname "${BASH_SOURCE[0]}")/../lib/await-uwsgi.sh"

# --- the packages ---------------------------------------------------------------------------
bash "$(dirname "${BASH_SOURCE[0]}")/../install-test-deps.sh" keystone uwsgi-plugin-python3
[ -x /usr/bin/keystone-wsgi-public ] || die "/usr/bin/keystone-wsgi-public missing (is the Debian keystone package installed?)"

# Whether GET $url answers with the v3 version document.
answers() {
  "$py" - "$url" <<'EOF' 2>/dev/null
import json, sys, urllib.request
# No proxy: it is on loopback, whatever http_proxy says.
with urllib.request.build_opener(urllib.request.ProxyHandler({})).open(sys.argv[1], timeout=3) as r:
    assert json.load(r)["version"]["id"].startswith("v3")
EOF
}

pidfile="$dir/uwsgi.pid"
# The pid of the uwsgi master of this state dir, if it is alive: a uwsgi whose working directory
# is the state dir (uwsgi rewrites its command line, so that is no help).
running_pid() {
  [ -s "$pidfile" ] || return 1
  local pid
  pid="$(cat "$pidfile")"
  [ "$(readlink "/proc/$pid/cwd" 2>/dev/null)" = "$dir" ] || return 1
  case "$(readlink "/proc/$pid/exe" 2>/dev/null)" in *uwsgi*) ;; *) return 1 ;; esac
  echo "$pid"
}

# What the provisioning was last done with; when Keystone is up and this is unchanged, there is
# nothing to do (a second start takes a fraction of a second).
stamp="$(printf '%s\n' "$port" "$admin_password" "$service_password" "$image_url" | sha256sum | cut -c1-64)"

# --- start it unless it is already up ---------------------------------------------------------
running=0
if pid="$(running_pid)" && answers; then
  running=1
  if [ "$(cat "$dir/provisioned" 2>/dev/null)" = "$stamp" ]; then
    log "already running (pid $pid) at $url"
    echo "OCELLUS_KEYSTONE_URL=$url"
    echo "OCELLUS_KEYSTONE_ADMIN_PASSWORD=$admin_password"
    echo "OCELLUS_KEYSTONE_SERVICE_PASSWORD=$service_password"
    exit 0
  fi
  log "already running (pid $pid) at $url; passwords or image URL changed, provisioning again"
else
  if pid="$(running_pid)"; then
    log "pid $pid of $dir does not answer at $url; restarting it"
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 50); do [ -d "/proc/$pid" ] || break; sleep 0.2; done
    kill -KILL -- "-$pid" 2>/dev/null || true
  fi
  if answers; then
    die "something else already answers at $url (not the Keystone of $dir); choose another OCELLUS_KEYSTONE_PORT"
  fi
fi
t0=$SECONDS
mkdir -p "$dir"
chmod 700 "$dir"
rm -f "$dir/provisioned"
user="$(id -un)"
group="$(id -gn)"

# Package defaults apply for everything not set here; [oslo_policy] points at the package's
# policy dir (its only file is the commented-out sample, so the in-code defaults rule).
# No cache: with several worker processes an in-process cache would serve stale role assignments
# and revocation lists (a revoked token would stay valid in the other workers).
cat >"$dir/keystone.conf" <<EOF
# Written by scripts/keystone/start.sh; rewritten on every start.
[DEFAULT]
log_dir = $dir
log_file = keystone.log

[database]
connection = sqlite:///$dir/keystone.db

[token]
provider = fernet
expiration = 3600

[fernet_tokens]
key_repository = $dir/fernet-keys

[fernet_receipts]
key_repository = $dir/fernet-keys

[credential]
key_repository = $dir/credential-keys

[identity]
# bcrypt cost 4 instead of 12: a test Keystone, and 12 costs ~0.2 s of CPU per password check.
password_hash_rounds = 4

[cache]
enabled = false

[oslo_policy]
policy_dirs = /etc/keystone/policy.d
EOF

# keystone-manage logs to keystone.log; its stdout/stderr (eventlet noise at exit) go to keystone-manage.log.
km() {
  echo "+ keystone-manage $1" >>"$dir/keystone-manage.log"
  # Under the lock the WSGI entry point below takes for writes, in case this Keystone is running.
  flock "$dir/write.lock" keystone-manage --config-file "$dir/keystone.conf" "$@" >>"$dir/keystone-manage.log" 2>&1 ||
    { tail -n 30 "$dir/keystone-manage.log" >&2; die "keystone-manage $1 failed; see $dir/keystone.log"; }
}
log "preparing $dir"
km db_sync
# WAL lets the uwsgi worker processes read while one writes (persistent in the db file).
"$py" -c 'import sqlite3, sys; sqlite3.connect(sys.argv[1]).execute("pragma journal_mode=wal")' "$dir/keystone.db"
[ -e "$dir/fernet-keys/0" ] || km fernet_setup --keystone-user "$user" --keystone-group "$group"
[ -e "$dir/credential-keys/0" ] || km credential_setup --keystone-user "$user" --keystone-group "$group"
# Idempotent: creates what is missing and (re)sets admin's password. It also creates the roles
# admin, member and reader with admin => member => reader, and grants admin on the system to
# admin (the provisioning below checks both).
km bootstrap \
  --bootstrap-username admin \
  --bootstrap-password "$admin_password" \
  --bootstrap-project-name admin \
  --bootstrap-role-name admin \
  --bootstrap-service-name keystone \
  --bootstrap-region-id RegionOne \
  --bootstrap-admin-url "$url" \
  --bootstrap-internal-url "$url" \
  --bootstrap-public-url "$url"

# The WSGI entry point: Debian's keystone-wsgi-public, with write requests run one at a time.
# oslo.db opens every SQLite transaction with a plain (deferred) BEGIN, so a transaction that reads
# and then writes fails at once with "database is locked" (SQLITE_BUSY, no busy wait) when another
# worker process writes in between: under tempest's parallel workers creating and deleting users
# and projects, a DELETE /v3/projects/{id} answered 500 after deleting the project, and the
# client's retry got 404. An exclusive flock on a file around every request that may write
# serialises the writers; GET/HEAD/OPTIONS (and password authentication, which with Fernet tokens
# writes nothing) never wait, and readers are never blocked under WAL. The lock file is opened per
# request, not at import: the master imports this before forking, and a descriptor shared by the
# workers would be one lock they all hold.
cat >"$dir/keystone-wsgi.py" <<'EOF'
# Written by scripts/keystone/start.sh; rewritten on every start.
import fcntl
import os

from keystone.server.wsgi import initialize_public_application

_keystone = initialize_public_application()
_lock_path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "write.lock")


def application(environ, start_response):
    method = environ.get("REQUEST_METHOD", "GET")
    path = environ.get("PATH_INFO", "")
    if method in ("GET", "HEAD", "OPTIONS") or (method == "POST" and path.rstrip("/") == "/v3/auth/tokens"):
        return _keystone(environ, start_response)
    with open(_lock_path, "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            # Drained under the lock (Flask's response is a list anyway), closed as WSGI asks.
            result = _keystone(environ, start_response)
            try:
                return list(result)
            finally:
                if hasattr(result, "close"):
                    result.close()
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
EOF

if [ "$running" -eq 0 ]; then
  log "starting uwsgi on $host:$port"
  # keystone.server.flask.core reads OS_KEYSTONE_CONFIG_DIR/OS_KEYSTONE_CONFIG_FILES; only this
  # file is read (oslo.config's default /etc/keystone files are not, since the list is explicit).
  # Processes, not threads: with SQLite, keystone's sessions leave connections for the garbage
  # collector, which closes them on another thread and logs a "SQLite objects created in a thread
  # can only be used in that same thread" traceback each time. 8 single-threaded workers serve
  # tempest's parallel runs (each worker takes ~150 MB).
  # No lazy-apps: the master loads the app once (~3 s) and forks; loading it in each of 8 workers
  # takes ~20 s on 2 cores. Nothing holds a DB connection at fork (SQLite sessions open their own).
  # die-on-term: SIGTERM stops uwsgi (its 2.0 default is a reload); no-orphans: workers follow.
  # buffer-size: Fernet tokens and service catalogues make big headers.
  # Connection: close: the http-socket closes every connection after one response without saying
  # so; clients that keep connections alive (Node's fetch) would race reusing a closed one.
  # setsid + nohup + no inherited stdio: it outlives this script and its caller's pipes.
  : >"$dir/uwsgi.log"
  OS_KEYSTONE_CONFIG_DIR="$dir" OS_KEYSTONE_CONFIG_FILES=keystone.conf \
    setsid nohup uwsgi \
      --plugins python3 \
      --http-socket "$host:$port" \
      --wsgi-file "$dir/keystone-wsgi.py" \
      --chdir "$dir" \
      --master --processes 8 --threads 1 --enable-threads \
      --die-on-term --no-orphans --thunder-lock \
      --buffer-size 65535 --listen 100 --add-header "Connection: close" \
      --procname-prefix-spaced "ocellus-keystone:$port" \
      --pidfile "$pidfile" \
      </dev/null >>"$dir/uwsgi.log" 2>&1 &
  await_uwsgi $! "$dir" "$dir/keystone.log"
  log "up at $url after $((SECONDS - t0)) s (pid $(cat "$pidfile"))"
fi

# --- provisioning over the REST API (idempotent) ---------------------------------------------
# One python3 process with urllib instead of a dozen `openstack` CLI calls (each costs ~1.5 s of
# imports); python3 is there whenever keystone is.
"$py" - "$url" "$admin_password" "$service_password" "$image_url" <<'EOF' >&2
import json, sys, urllib.error, urllib.request

url, admin_password, service_password, image_url = sys.argv[1:5]
opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # loopback: never a proxy

def call(method, path, body=None, token=None, expect=(200, 201, 204)):
    req = urllib.request.Request(url + path, method=method,
                                 data=None if body is None else json.dumps(body).encode())
    req.add_header("Content-Type", "application/json")
    if token:
        req.add_header("X-Auth-Token", token)
    try:
        with opener.open(req, timeout=30) as r:
            status, headers, raw = r.status, r.headers, r.read()
    except urllib.error.HTTPError as e:
        status, headers, raw = e.code, e.headers, e.read()
    if status not in expect:
        sys.exit(f"keystone: {method} {path} -> {status}: {raw[:500]!r}")
    return status, headers, (json.loads(raw) if raw else None)

def password_auth(user, password, scope):
    body = {"auth": {"identity": {"methods": ["password"], "password": {"user": {
        "name": user, "domain": {"id": "default"}, "password": password}}}, "scope": scope}}
    _, headers, data = call("POST", "/auth/tokens", body, expect=(201,))
    return headers["X-Subject-Token"], data["token"]

def log(msg):
    print(f"keystone: {msg}", file=sys.stderr)

token, _ = password_auth("admin", admin_password,
                         {"project": {"name": "admin", "domain": {"id": "default"}}})

def find(collection, key, **query):
    qs = "&".join(f"{k}={urllib.request.quote(v)}" for k, v in query.items())
    return call("GET", f"/{collection}?{qs}", token=token)[2][key]

def ensure(collection, singular, query, create):
    found = find(collection, collection, **query)
    if found:
        return found[0]
    log(f"creating {singular} {query}")
    return call("POST", f"/{collection}", {singular: create}, token=token, expect=(201,))[2][singular]

roles = {name: ensure("roles", "role", {"name": name}, {"name": name})["id"]
         for name in ("admin", "member", "reader", "service")}

# bootstrap makes admin imply member and member imply reader; check (and repair) that.
for prior, implied in (("admin", "member"), ("member", "reader")):
    status = call("HEAD", f"/roles/{roles[prior]}/implies/{roles[implied]}", token=token, expect=(200, 204, 404))[0]
    if status == 404:
        log(f"role {prior} did not imply {implied}; adding it")
        call("PUT", f"/roles/{roles[prior]}/implies/{roles[implied]}", token=token, expect=(201,))

admin_user = find("users", "users", name="admin", domain_id="default")[0]["id"]
# bootstrap grants admin on the system to its user; systemToken() in the tests relies on it.
path = f"/system/users/{admin_user}/roles/{roles['admin']}"
if call("HEAD", path, token=token, expect=(200, 204, 404))[0] == 404:
    log("granting admin on the system to admin")
    call("PUT", path, token=token, expect=(204,))

project = ensure("projects", "project", {"name": "service", "domain_id": "default"},
                 {"name": "service", "domain_id": "default", "description": "Service users"})["id"]

# The service user Ocellus authenticates as to validate user tokens (GET /v3/auth/tokens with
# X-Subject-Token), like keystonemiddleware. Under Keystone's default policy identity:validate_token
# is "rule:admin_required or (role:reader and system_scope:all) or rule:service_role or
# rule:token_subject", so role `service` on a project is enough: no admin, no system role.
users = find("users", "users", name="ocellus", domain_id="default")
if users:
    user = users[0]["id"]
    call("PATCH", f"/users/{user}", {"user": {"password": service_password, "enabled": True}}, token=token)
else:
    log("creating user ocellus")
    user = call("POST", "/users", {"user": {"name": "ocellus", "domain_id": "default",
                                            "password": service_password}}, token=token, expect=(201,))[2]["user"]["id"]
call("PUT", f"/projects/{project}/users/{user}/roles/{roles['service']}", token=token, expect=(204,))

service = ensure("services", "service", {"type": "image"},
                 {"name": "glance", "type": "image", "description": "Ocellus (OpenStack Image API)"})["id"]
endpoints = find("endpoints", "endpoints", service_id=service, interface="public")
endpoints = [e for e in endpoints if e.get("region_id") in ("RegionOne", None)]
if not endpoints:
    log(f"creating the public image endpoint {image_url}")
    call("POST", "/endpoints", {"endpoint": {"service_id": service, "interface": "public",
                                             "region_id": "RegionOne", "url": image_url}},
         token=token, expect=(201,))
else:
    for e in endpoints:
        if e["url"] != image_url or e.get("region_id") != "RegionOne" or not e.get("enabled", True):
            log(f"updating the public image endpoint {e['url']} -> {image_url}")
            call("PATCH", f"/endpoints/{e['id']}", {"endpoint": {"url": image_url, "region_id": "RegionOne",
                                                                  "enabled": True}}, token=token)

# The service user can get its token; that is what Ocellus will do.
password_auth("ocellus", service_password, {"project": {"name": "service", "domain": {"id": "default"}}})
EOF

echo "$stamp" >"$dir/provisioned"
log "ready after $((SECONDS - t0)) s: project service, user ocellus (role service), image endpoint $image_url"
echo "OCELLUS_KEYSTONE_URL=$url"
echo "OCELLUS_KEYSTONE_ADMIN_PASSWORD=$admin_password"
echo "OCELLUS_KEYSTONE_SERVICE_PASSWORD=$service_password"
