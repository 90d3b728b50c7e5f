#!/usr/bin/env bash
# Installs what this project needs on a fresh Debian 12 machine (run as root), then builds it.
# Idempotent: packages already present are not reinstalled.
set -euo pipefail
cd "$(dirname "$0")/.."

# Dataplane: iptables/nftables/conntrack/iproute2; native addon: libnetfilter-queue/libmnl headers;
# lab and benchmarks: iperf3, wrk, nginx-light, tcpdump, ping, nc.
packages=(iptables nftables conntrack iproute2 ipset libnetfilter-queue-dev libmnl-dev
          iperf3 wrk nginx-light tcpdump iputils-ping netcat-openbsd python3 make g++)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "setup: installing ${missing[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  # nginx is only a benchmark target inside lab namespaces: never let the package start it on the host.
  policy=/usr/sbin/policy-rc.d; made_policy=0
  if [ ! -e "$policy" ]; then printf '#!/bin/sh\nexit 101\n' >"$policy"; chmod +x "$policy"; made_policy=1; fi
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  if [ "$made_policy" = 1 ]; then rm -f "$policy"; fi
fi

if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --no-fund --no-audit          # also builds the native addon (install) and dist/ (prepare)
fi
[ -f native/build/Release/netpol_native.node ] || npm run --silent install
npm run --silent build
