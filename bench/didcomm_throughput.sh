#!/usr/bin/env bash
# DIDComm mediator throughput (issue 14 targets on a 2-core machine: ≥ 3,000 forwards of
# 1 KiB stored durably per second, ≥ 1,000 messages per second end to end — stored,
# delivered, acknowledged —, ≤ 300 µs of server CPU per stored forward). A release server
# on SQLite (`synchronous=FULL`), the load generator `bench/didcomm_forwards.rs` on the
# same machine (it packs every forward before the clock starts); server CPU from /proc.
# Usage: [COUNT=10000] [CONCURRENCY=64] bench/didcomm_throughput.sh
COUNT=${COUNT:-10000}
CONCURRENCY=${CONCURRENCY:-64}
export SICHAT_DIDCOMM_QUEUE_MAX_MESSAGES=$((COUNT * 2))
export SICHAT_DIDCOMM_QUEUE_MAX_BYTES=$((COUNT * 4096))
source "$(dirname "$0")/common.sh"
LOAD=${LOAD:-${CARGO_TARGET_DIR:-target}/release/examples/didcomm_forwards}
[ -x "$LOAD" ] || { echo "build first: cargo build --release --example didcomm_forwards" >&2; exit 1; }
"$LOAD" "$BASE" "$COUNT" "$CONCURRENCY" "$PID"
