#!/usr/bin/env bash
# Installs what a fresh Debian machine with a Rust toolchain lacks to build and test Brook.
# Idempotent: does nothing when everything is already there.
set -euo pipefail

need=()
# libclang for the rocksdb crate's bindgen step (brook-state); a C/C++ compiler for the
# bundled C libraries (zstd, RocksDB); kcat, a Kafka client for the interop tests.
for pkg in libclang-dev g++ pkg-config kcat; do
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
# kafka-python, the pure-Python Kafka client of the interop tests (tests/interop/*.py).
KAFKA_PYTHON=2.0.2
python3 -c "import kafka, sys; sys.exit(kafka.__version__ != '$KAFKA_PYTHON')" 2>/dev/null ||
    python3 -m pip install --quiet "kafka-python==$KAFKA_PYTHON"
# confluent-kafka (its wheel bundles a current librdkafka), the second Python client of the
# interop tests.
CONFLUENT_KAFKA=2.16.1
python3 -c "import confluent_kafka, sys; sys.exit(confluent_kafka.__version__ != '$CONFLUENT_KAFKA')" 2>/dev/null ||
    python3 -m pip install --quiet "confluent-kafka==$CONFLUENT_KAFKA"
