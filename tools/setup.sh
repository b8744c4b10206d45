#!/usr/bin/env bash
# Installs what push-broker needs from Debian 12 (and, for the browser tests,
# from npm). Idempotent: what is present is skipped.
#   tools/setup.sh          build and run
#   tools/setup.sh --redis  also redis-server, for tools/run.sh --store=redis
#   tools/setup.sh --test   also the test tools: Chromium, fonts, Node.js, playwright-core, Redis
set -euo pipefail
cd "$(dirname "$0")/.."

PACKAGES=(
  cmake g++ ninja-build ccache pkg-config
  libgrpc++-dev libprotobuf-dev protobuf-compiler protobuf-compiler-grpc grpc-proto
  libabsl-dev libcpp-httplib-dev libgtest-dev libgmock-dev
  nlohmann-json3-dev libspdlog-dev libhiredis-dev libjemalloc-dev curl
)
if [ "${1:-}" = "--redis" ]; then PACKAGES+=(redis-server redis-tools); fi
if [ "${1:-}" = "--test" ]; then
  PACKAGES+=(chromium fonts-noto-cjk fonts-noto-color-emoji python3-prometheus-client
             clang libclang-rt-14-dev clang-format redis-server redis-tools)
  if ! command -v node >/dev/null 2>&1; then PACKAGES+=(nodejs npm); fi
  # kubectl renders the kustomize base offline; any recent one will do.
  if ! command -v kubectl >/dev/null 2>&1; then PACKAGES+=(kubernetes-client); fi
fi

missing=()
for p in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if [ "${#missing[@]}" -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  SUDO=""
  if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
  $SUDO apt-get -o DPkg::Lock::Timeout=600 update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get -o DPkg::Lock::Timeout=600 install -y -qq "${missing[@]}"
else
  echo "setup: all Debian packages present"
fi

if [ "${1:-}" = "--test" ]; then
  # tests/browser: playwright-core drives Debian's Chromium (it downloads no
  # browser). tests/k8s: kubernetes-models validates the manifests offline.
  for dir in tests/browser tests/k8s; do
    lock=$dir/package-lock.json
    stamp=$dir/node_modules/.package-lock.json
    if [ ! -f "$stamp" ] || [ "$lock" -nt "$stamp" ]; then
      npm ci --prefix "$dir" --no-audit --no-fund
    fi
  done
fi
