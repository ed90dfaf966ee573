#!/usr/bin/env bash
# Installs the system packages ctrd's build, demo and tests need (Debian 12), only those missing.
set -euo pipefail
pkgs=(busybox-static iptables iproute2 runc procps util-linux curl python3 gcc make pkg-config bc)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
export PATH="$HOME/.cargo/bin:$PATH"
if ! command -v cargo >/dev/null; then
  echo "cargo not found: install a Rust toolchain >= 1.85 (https://rustup.rs) and re-run" >&2
  exit 1
fi
