# Sourced by the start scripts of services run under uwsgi (keystone, barbican).
# await_uwsgi PID DIR SERVICE_LOG: polls the caller's `answers` every 0.5 s for up to 60 s; when the
# uwsgi process PID exits first, or nothing answers in time, shows the end of DIR/uwsgi.log and
# stops with the caller's `die`, naming the logs to read. Reads the caller's $url.
await_uwsgi() {
  local pid=$1 dir=$2 service_log=$3
  for _ in $(seq 120); do
    sleep 0.5
    answers && return 0
    if ! kill -0 "$pid" 2>/dev/null; then
      tail -n 30 "$dir/uwsgi.log" >&2
      die "uwsgi exited; see $dir/uwsgi.log and $service_log"
    fi
  done
  tail -n 30 "$dir/uwsgi.log" >&2
  die "no answer at $url after 60 s; see $dir/uwsgi.log and $service_log"
}
