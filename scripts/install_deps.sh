#!/usr/bin/env bash
# Installs the Debian 12 packages fracture needs, only those missing.
# Runs apt-get as root, or through sudo when not root. Idempotent: a second run
# installs nothing and takes about a second.
set -euo pipefail

PKGS=(
  build-essential cmake ninja-build ccache pkg-config
  libtorch-dev libopenblas0-pthread          # tensors/autograd; OpenBLAS: ~36x faster GEMM than reference BLAS
  libdnnl-dev                                # headers of the oneDNN libtorch uses: fused inference convolutions
  libgloo-dev                                # headers of the Gloo libtorch links: data-parallel training (c10d)
  libopencv-dev libdcmtk-dev libyaml-cpp-dev nlohmann-json3-dev
  zlib1g-dev                                 # inflating Deflated Explicit VR DICOM ourselves, bounded (data/dicom.cpp)
  libcli11-dev libspdlog-dev libfmt-dev libgtest-dev libbenchmark-dev
  libcpp-httplib-dev
  curl ca-certificates openssl               # the report's chart libraries, fetched from the npm registry at build time
  python3 python3-torch python3-torchvision python3-sklearn python3-numpy python3-yaml  # oracle tests only
)

# `install_deps.sh --test`: also what only `make test` needs
if [ "${1:-}" = "--test" ]; then
  PKGS+=(chromium)                           # the HTML report's browser test (headless)
  PKGS+=(dcmtk)                              # DCMTK's own tools (dcmodify, storescu, storescp): the other side in DICOM tests
  PKGS+=(procps util-linux)                  # pgrep and setsid: the kill -9 harness (tests/cli/kill9.sh)
fi
# `install_deps.sh --fuzz`: the libFuzzer build (make fuzz, docs/reliability.md)
if [ "${1:-}" = "--fuzz" ]; then
  PKGS+=(clang libclang-rt-14-dev dcmtk)
fi

missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
echo "install_deps: installing ${missing[*]}"
SUDO=""
if [ "$(id -u)" != "0" ]; then
  command -v sudo >/dev/null || { echo "install_deps: not root and no sudo; install: ${missing[*]}" >&2; exit 1; }
  SUDO="sudo"
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
