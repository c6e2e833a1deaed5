#!/usr/bin/env bash
# DIDComm interop with SICPA's didcomm-python (another language, another team), see
# didcomm_python.py: it packs what `sichat-client didcomm unpack` opens and opens what
# `sichat-client didcomm pack` packs (authcrypt, anoncrypt, signed then encrypted), and its
# parties use a running `sichat serve` as their mediator (coordinate-mediation 2.0,
# a forward it wraps, pickup 3.0).
# Usage: tests/interop/didcomm_python.sh [BIN_DIR]   (holding sichat and sichat-client;
#        default $CARGO_TARGET_DIR/debug)
# Installs the pinned library (requirements.txt) in a virtualenv under ~/.cache once.
# Exit 0 on success; 1 when a check fails; 2 when the library cannot be installed.
set -euo pipefail
cd "$(dirname "$0")"
BIN_DIR=${1:-${CARGO_TARGET_DIR:-../../target}/debug}
BIN_DIR=$(cd "$BIN_DIR" && pwd)
for bin in sichat sichat-client; do
  [ -x "$BIN_DIR/$bin" ] || { echo "build first: cargo build --bins ($BIN_DIR/$bin)" >&2; exit 1; }
done
VENV=${SICHAT_INTEROP_VENV:-${HOME:-/tmp}/.cache/sichat-interop-venv}
if ! "$VENV/bin/python" -c "import didcomm" >/dev/null 2>&1; then
  python3 -m venv "$VENV" >/dev/null 2>&1 &&
    "$VENV/bin/pip" install --quiet --disable-pip-version-check -r requirements.txt >/dev/null 2>&1 ||
    { echo "didcomm-python could not be installed (no PyPI?)" >&2; exit 2; }
fi

# A server of our own on a free loopback port, gone on exit.
DATA=$(mktemp -d)
PORT=$("$VENV/bin/python" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
SICHAT_MASTER_KEY=$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n') \
  SICHAT_ADMIN_TOKEN="sat_interop-$(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n')" \
  SICHAT_LOG_LEVEL=warn "$BIN_DIR/sichat" serve --data-dir "$DATA" --listen "127.0.0.1:$PORT" \
  > "$DATA/server.log" 2>&1 &
SERVER=$!
trap 'kill $SERVER 2>/dev/null; wait $SERVER 2>/dev/null; rm -rf "$DATA"' EXIT
for _ in $(seq 1 100); do curl -fsS "http://127.0.0.1:$PORT/readyz" >/dev/null 2>&1 && break; sleep 0.1; done

PYTHONWARNINGS=ignore "$VENV/bin/python" didcomm_python.py "$BIN_DIR/sichat-client" "http://127.0.0.1:$PORT"
