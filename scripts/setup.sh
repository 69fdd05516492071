#!/usr/bin/env bash
# Installs what a fresh Debian machine with a Rust toolchain lacks to build and test Brook.
# Idempotent: does nothing when everything is already there.
set -euo pipefail

need=()
# libclang for the rocksdb crate's bindgen step (brook-state); a C/C++ compiler for the
# bundled C libraries (zstd, RocksDB).
for pkg in libclang-dev g++ pkg-config; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || need+=("$pkg")
done
if [ ${#need[@]} -gt 0 ]; then
    echo "setup: installing ${need[*]}" >&2
    SUDO=""
    [ "$(id -u)" -eq 0 ] || SUDO="sudo"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need[@]}" >/dev/null
fi
for component in rustfmt clippy; do
    cargo "${component/rustfmt/fmt}" --version >/dev/null 2>&1 || rustup component add "$component"
done
