#!/usr/bin/env bash
# Installs the Debian packages the end-to-end tests use (the real `glance` CLI and qemu-img).
# Idempotent: does nothing when they are already there. Needs root (or sudo) for apt-get.
set -euo pipefail

packages=()
command -v glance >/dev/null 2>&1 || packages+=(python3-glanceclient)
command -v qemu-img >/dev/null 2>&1 || packages+=(qemu-utils)
[ ${#packages[@]} -eq 0 ] && exit 0

sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq "${packages[@]}"
