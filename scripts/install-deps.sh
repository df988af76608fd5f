#!/usr/bin/env bash
# Installs the Debian 12 packages fence needs to build and test, if any are missing.
# Uses sudo when not run as root.
set -euo pipefail
packages=(
  build-essential cmake ninja-build pkg-config git
  libboost-dev libboost-filesystem-dev libboost-system-dev
  libcereal-dev libcxxopts-dev libspdlog-dev nlohmann-json3-dev libseccomp-dev catch2
  libnftnl-dev libmnl-dev
  python3 python3-pytest python3-jsonschema iproute2 curl util-linux passwd
  clang clang-tidy libclang-rt-14-dev bubblewrap hyperfine zsh fish
  nodejs netcat-openbsd bind9-dnsutils
)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]} == 0)); then
  exit 0
fi
echo "installing: ${missing[*]}"
sudo=""
if [[ $(id -u) -ne 0 ]]; then sudo="sudo"; fi
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
