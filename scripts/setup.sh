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
# Node.js and npm for the kafkajs interop test (the machine image ships them).
command -v node >/dev/null 2>&1 && command -v npm >/dev/null 2>&1 || need+=(nodejs npm)
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
# aiokafka (asyncio; gzip needs no extra package), the third Python client of the interop
# tests.
AIOKAFKA=0.14.0
python3 -c "import aiokafka, sys; sys.exit(aiokafka.__version__ != '$AIOKAFKA')" 2>/dev/null ||
    python3 -m pip install --quiet "aiokafka==$AIOKAFKA"
# kafkajs, the Node.js client of the interop tests, into an npm prefix outside the work tree
# (tests/interop.rs puts $BROOK_NODE_DIR/node_modules on NODE_PATH; same default there).
KAFKAJS=2.2.4
BROOK_NODE_DIR="${BROOK_NODE_DIR:-$HOME/.cache/brook-node}"
node -e "process.exit(require('$BROOK_NODE_DIR/node_modules/kafkajs/package.json').version === '$KAFKAJS' ? 0 : 1)" 2>/dev/null || {
    mkdir -p "$BROOK_NODE_DIR"
    npm install --prefix "$BROOK_NODE_DIR" --save-exact --no-audit --no-fund --silent "kafkajs@$KAFKAJS"
}
