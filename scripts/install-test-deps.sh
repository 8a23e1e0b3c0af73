#!/usr/bin/env bash
# Installs the Debian packages the end-to-end tests use: the real `glance` CLI and qemu-img;
# Keystone (started on loopback by scripts/keystone/start.sh), the `openstack` CLI, and tempest
# with the Glance tempest plugin.
# Idempotent: does nothing when they are already there. Needs root (or sudo) for apt-get.
set -euo pipefail

packages=()
command -v glance >/dev/null 2>&1 || packages+=(python3-glanceclient)
command -v qemu-img >/dev/null 2>&1 || packages+=(qemu-utils)
command -v keystone-manage >/dev/null 2>&1 || packages+=(keystone)
command -v openstack >/dev/null 2>&1 || packages+=(python3-openstackclient)
command -v tempest >/dev/null 2>&1 || packages+=(tempest)
dpkg -s glance-tempest-plugin >/dev/null 2>&1 || packages+=(glance-tempest-plugin)
[ ${#packages[@]} -eq 0 ] && exit 0

sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq "${packages[@]}"
