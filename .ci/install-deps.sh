#!/usr/bin/env bash
# Install the Debian 12 packages lorascope needs to build, test and run (only the missing ones).
set -euo pipefail
pkgs=(gcc meson ninja-build pkg-config libopenblas-dev liblapacke-dev check libjansson-dev libsqlite3-dev
      libncurses-dev libxxhash-dev tmux valgrind groff-base libxml2-utils)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  echo "installing: ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
