#!/usr/bin/env bash
# Server CPU per request for DID documents and resolution (issue target: a GET of the
# server's did:web document at most 40 µs). A release server under wrk on loopback; the
# server's CPU time (user + system, from /proc) divided by the requests it answered; the
# median of ROUNDS runs. Needs `wrk` (Debian package) and a release build.
# Usage: [CONNECTIONS=64] [ROUNDS=3] bench/did_document_cpu.sh [seconds per run]
source "$(dirname "$0")/common.sh"
SECONDS_PER_RUN=${1:-10}
curl -fsS -X POST "$BASE/admin/users" -H "Authorization: Bearer $TOKEN" \
  -H 'content-type: application/json' -d '{"name":"alice"}' >/dev/null
for path in /healthz /.well-known/did.json /users/alice/did.json \
            /1.0/identifiers/did:key:z6MkiTBz1ymuepAQ4HEHYSF1H8quG5GLVVQR3djdX3mDooWp; do
  wrk -t1 -c8 -d2s "$BASE$path" >/dev/null   # warm-up (and fill caches)
  runs=()
  for _ in $(seq 1 "${ROUNDS:-3}"); do
    before=$(cpu_seconds)
    out=$(wrk -t1 -c"${CONNECTIONS:-64}" -d"${SECONDS_PER_RUN}s" "$BASE$path")
    after=$(cpu_seconds)
    requests=$(echo "$out" | awk '/requests in/ { print $1 }')
    runs+=("$(python3 -c "import sys; b,a,n=map(float,sys.argv[1:]); print(f'{(a-b)*1e6/n:.1f}')" "$before" "$after" "$requests")")
  done
  python3 -c "import sys,statistics; v=sorted(map(float,sys.argv[2:])); print(f'{sys.argv[1]:<75} median {statistics.median(v):6.1f} µs CPU/request  (runs {v})')" "$path" "${runs[@]}"
done
