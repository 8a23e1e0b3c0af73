#!/usr/bin/env bash
# Installs Debian packages the tests use. Without arguments: all of them — the real `glance` CLI
# and qemu-img; Keystone (started on loopback by scripts/keystone/start.sh) under uwsgi, the
# `openstack` CLI, tempest with the Glance tempest plugin, Swift with memcached (scripts/swift/start.sh)
# openssl (throw-away certificates for the https tests, signed images), barbican-api (scripts/barbican/start.sh), and xz-utils and zip (the import plugins' archive tests), glance-common (Glance's metadefs definition files, /usr/share/glance-common/metadefs, that test/manage-metadefs.test.ts loads), chromium (/usr/bin/chromium, the browser test/console-browser.test.ts drives with playwright-core). With arguments: just those packages
# (scripts/keystone/start.sh and scripts/tempest/run.sh ask for theirs).
# Idempotent: does nothing when they are installed already. Needs root (or sudo) for apt-get.
set -euo pipefail

wanted=("$@")
[ ${#wanted[@]} -gt 0 ] || wanted=(python3-glanceclient qemu-utils keystone uwsgi-plugin-python3 python3-openstackclient tempest glance-tempest-plugin python3-swift memcached swift swift-proxy swift-account swift-container swift-object openssl xz-utils zip barbican-api glance-common chromium)

packages=()
for p in "${wanted[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || packages+=("$p")
done
[ ${#packages[@]} -eq 0 ] && exit 0

echo "installing ${packages[*]}" >&2
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq >&2
$sudo apt-get install -y -qq "${packages[@]}" >&2
