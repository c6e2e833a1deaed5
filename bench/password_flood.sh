#!/usr/bin/env bash
# Peak memory while 200 clients create users with passwords at once (issue target: at
# most 250 MB peak RSS; Argon2id uses 19 MiB per hash). Usage: bench/password_flood.sh [n]
source "$(dirname "$0")/common.sh"
N=${1:-200}
python3 - "$BASE" "$TOKEN" "$N" <<'PY'
import json, sys, threading, urllib.request, urllib.error, collections
base, token, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
counts = collections.Counter()
barrier = threading.Barrier(n)
def create(i):
    body = json.dumps({"name": f"user{i}", "password": "correct horse battery staple"}).encode()
    req = urllib.request.Request(f"{base}/admin/users", data=body, method="POST",
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
    barrier.wait()
    try:
        with urllib.request.urlopen(req, timeout=120) as r:
            counts[r.status] += 1
    except urllib.error.HTTPError as e:
        counts[e.code] += 1
threads = [threading.Thread(target=create, args=(i,)) for i in range(n)]
for t in threads: t.start()
for t in threads: t.join()
print("responses:", dict(sorted(counts.items())))
PY
echo "peak RSS: $(awk '/VmHWM/ { printf "%.1f MB", $2 / 1024 }' /proc/$PID/status)"
