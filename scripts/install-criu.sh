#!/usr/bin/env bash
# Installs a CRIU that works on this kernel (>= 4.2), idempotently.
#
# Why not Debian 12's own package: criu 3.17 (bookworm) fails on recent kernels with a vDSO
# error, and 4.1.1 (trixie) cannot dump inet sockets. 4.2.x from Debian unstable works. Its
# libc6 >= 2.38 dependency is taken from trixie. Both suites are pinned low so nothing else on
# the machine is upgraded from them: only what we ask for explicitly (and its dependencies).
#
# Skips everything when `criu --version` already reports >= 4.2. Ends with `criu check`.
set -euo pipefail

MIN_MAJOR=4
MIN_MINOR=2
LIST=/etc/apt/sources.list.d/ctrd-criu.list
PREFS=/etc/apt/preferences.d/ctrd-criu
export DEBIAN_FRONTEND=noninteractive

log() { echo "install-criu: $*"; }

# Prints "MAJOR MINOR" of the criu on PATH (or nothing).
criu_version() {
  command -v criu >/dev/null 2>&1 || return 0
  criu --version 2>/dev/null | sed -n 's/^Version: *\([0-9]\+\)\.\([0-9]\+\).*/\1 \2/p' | head -n1
}

version_ok() {
  local v major minor
  v="$(criu_version)"
  [ -n "$v" ] || return 1
  read -r major minor <<<"$v"
  [ "$major" -gt "$MIN_MAJOR" ] || { [ "$major" -eq "$MIN_MAJOR" ] && [ "$minor" -ge "$MIN_MINOR" ]; }
}

run_check() {
  log "$(criu --version | tr '\n' ' ')"
  local out rc=0
  out="$(criu check 2>&1)" || rc=$?
  echo "$out"
  if [ $rc -ne 0 ]; then
    log "criu check FAILED (exit $rc)" >&2
    exit $rc
  fi
  log "criu check verdict: $(echo "$out" | tail -n1)"
}

if [ "$(id -u)" -ne 0 ]; then
  echo "install-criu: must run as root" >&2
  exit 1
fi

if version_ok; then
  log "criu $(criu_version | tr ' ' '.') already installed (>= $MIN_MAJOR.$MIN_MINOR): skipping install"
  # iptables is needed for CRIU's network lock; install it if missing.
  if ! command -v iptables >/dev/null 2>&1 && ! [ -x /usr/sbin/iptables ]; then
    apt-get install -y -qq --no-install-recommends iptables
  fi
  run_check
  exit 0
fi

# Use the same Debian mirror (host and scheme) as this machine's own sources.
mirror=""
for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources; do
  [ -f "$f" ] || continue
  [ "$f" = "$LIST" ] && continue
  # one-line format: deb [opts] URI suite comp...; deb822: URIs: URI
  cand="$(grep -hE '^[[:space:]]*(deb[[:space:]]|URIs:)' "$f" 2>/dev/null \
    | grep -oE '(https?|mirror\+https?)://[^[:space:]]+' \
    | grep -E '/debian/?$' | head -n1 || true)"
  if [ -n "$cand" ]; then
    mirror="${cand%/}"
    break
  fi
done
mirror="${mirror:-http://deb.debian.org/debian}"
log "using mirror $mirror"

keyring=/usr/share/keyrings/debian-archive-keyring.gpg
opts=""
[ -f "$keyring" ] && opts="[signed-by=$keyring] "
cat >"$LIST" <<EOF
# Added by ctrd scripts/install-criu.sh: CRIU >= 4.2 comes from unstable, its libc6 from trixie.
deb ${opts}${mirror} trixie main
deb ${opts}${mirror} unstable main
EOF
cat >"$PREFS" <<EOF
# Added by ctrd scripts/install-criu.sh: never upgrade anything from these suites by default.
Package: *
Pin: release n=trixie
Pin-Priority: 100

Package: *
Pin: release a=unstable
Pin-Priority: 50

Package: *
Pin: release n=sid
Pin-Priority: 50
EOF

log "apt-get update"
apt-get update -qq

# libc6 >= 2.38 (required by unstable's criu) from trixie, if this system's is older.
have_libc="$(dpkg-query -W -f='${Version}' libc6 2>/dev/null || true)"
if [ -z "$have_libc" ] || dpkg --compare-versions "$have_libc" lt 2.38; then
  log "upgrading libc6 ($have_libc) from trixie"
  apt-get install -y -qq -t trixie --no-install-recommends libc6 >/dev/null
fi

log "installing criu from unstable, iptables"
apt-get install -y -qq -t unstable --no-install-recommends criu >/dev/null
apt-get install -y -qq --no-install-recommends iptables >/dev/null
hash -r

if ! version_ok; then
  echo "install-criu: installed criu is still older than $MIN_MAJOR.$MIN_MINOR: $(criu --version 2>&1 | head -n1)" >&2
  exit 1
fi
run_check
