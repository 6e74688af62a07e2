#!/usr/bin/env bash
# Installs what pstrain needs on Debian 12 (only the packages that are missing;
# apt-get needs root) and builds the project into build/. Safe to run again: a
# second run only rebuilds what changed. With --no-build it only installs
# (deploy/ci.sh builds its own checked builds).
set -euo pipefail
cd "$(dirname "$0")/.."
build=1
case "${1:-}" in
  "") ;;
  --no-build) build=0 ;;
  *) echo "bootstrap: error: unknown option '$1' (usage: bash deploy/bootstrap.sh [--no-build])" >&2; exit 2 ;;
esac

packages=(
  cmake g++ pkg-config ninja-build ccache
  libboost-dev libzmq3-dev cppzmq-dev capnproto libcapnp-dev
  libopenblas-dev librocksdb-dev zlib1g-dev catch2
  libcli11-dev libtomlplusplus-dev libspdlog-dev libfmt-dev nlohmann-json3-dev libxxhash-dev
  dataset-fashion-mnist
  chromium  # headless browser for the dashboard's integration test
  python3-numpy              # the sparse export test reads the .npy files with numpy
  iproute2 nftables curl jq  # multi-host tests: network-namespace hosts, link faults, HTTP checks
  slurm-wlm munge            # the Slurm tests run a real slurmctld and slurmd nodes
  prometheus                 # the monitoring test scrapes a job with a real Prometheus
  clang libclang-rt-14-dev llvm-14  # deploy/ci.sh: clang's sanitizer runtimes, libFuzzer, llvm-symbolizer
)
# tests/k8s validates the Kubernetes manifests with npm packages: Node.js and npm from Debian,
# unless the machine already has both commands.
command -v node >/dev/null && command -v npm >/dev/null || packages+=(nodejs npm)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "bootstrap: installing ${missing[*]}"
  sudo=""
  if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null || { echo "bootstrap: error: run as root (apt-get must install: ${missing[*]})" >&2; exit 1; }
    sudo=sudo
  fi
  $sudo apt-get update
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y --no-install-recommends "${missing[@]}"
fi

[ "$build" -eq 1 ] || exit 0
echo "bootstrap: configuring and building into build/"
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_CXX_COMPILER_LAUNCHER=ccache
cmake --build build
echo "bootstrap: done; binaries are in build/bin/"
