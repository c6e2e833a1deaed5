# Shared by the load scripts: start a release `sichat serve` on a fresh data dir.
# Sets PID, BASE, DIR and TOKEN; the server is killed on exit.
set -euo pipefail
BIN=${BIN:-${CARGO_TARGET_DIR:-target}/release/sichat}
[ -x "$BIN" ] || { echo "build first: cargo build --release (BIN=$BIN)" >&2; exit 1; }
# Machines of one kind differ in CPU generation: name it beside every figure.
echo "cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), family $(grep -m1 'cpu family' /proc/cpuinfo | cut -d: -f2 | xargs) model $(grep -m1 '^model\s' /proc/cpuinfo | cut -d: -f2 | xargs), $(grep -m1 bogomips /proc/cpuinfo | cut -d: -f2 | xargs) bogomips" >&2
PORT=${PORT:-18080}
DIR=$(mktemp -d)
BASE="http://127.0.0.1:$PORT"
TOKEN="sat_bench-admin-token-0123456789abcdefghijklmnop"
export SICHAT_MASTER_KEY=000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f
export SICHAT_ADMIN_TOKEN=$TOKEN SICHAT_LOG_LEVEL=warn
"$BIN" serve --data-dir "$DIR" --listen "127.0.0.1:$PORT" > "$DIR/server.log" 2>&1 &
PID=$!
trap 'kill $PID 2>/dev/null; wait $PID 2>/dev/null; rm -rf "$DIR"' EXIT
for _ in $(seq 1 100); do curl -fsS "$BASE/readyz" >/dev/null 2>&1 && break; sleep 0.1; done
curl -fsS "$BASE/readyz" >/dev/null
# Server CPU time so far, in seconds (utime + stime of /proc/PID/stat).
cpu_seconds() {
  awk -v t="$(getconf CLK_TCK)" '{ print ($14 + $15) / t }' "/proc/$PID/stat"
}
