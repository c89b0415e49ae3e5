#!/usr/bin/env bash
# Installs what building and testing hadw needs, from Debian packages. Idempotent; skips apt when
# everything is already present.
set -euo pipefail
packages=(cmake g++ make catch2 libbenchmark-dev libeigen3-dev xtensor-dev)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  sudo_cmd=""
  [ "$(id -u)" -eq 0 ] || sudo_cmd="sudo"
  $sudo_cmd apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq "${missing[@]}"
fi
