#!/usr/bin/env bash
# Installs the Debian 12 packages push-broker needs to build and test. Idempotent:
# packages already present are skipped, so a second run costs a dpkg query.
set -euo pipefail

PACKAGES=(
  cmake g++ ninja-build ccache pkg-config
  libgrpc++-dev libprotobuf-dev protobuf-compiler protobuf-compiler-grpc grpc-proto
  libabsl-dev libcpp-httplib-dev libgtest-dev libgmock-dev
  nlohmann-json3-dev curl
)

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
  echo "setup: all packages present"
fi
