#!/usr/bin/env bash
# Server CPU per request for DID documents and resolution (issue target: a GET of the
# server's did:web document at most 40 µs). Needs `wrk` (Debian package) and a release
# build. Usage: bench/did_document_cpu.sh [seconds per path]
source "$(dirname "$0")/common.sh"
SECONDS_PER_PATH=${1:-10}
curl -fsS -X POST "$BASE/admin/users" -H "Authorization: Bearer $TOKEN" \
  -H 'content-type: application/json' -d '{"name":"alice"}' >/dev/null
for path in /healthz /.well-known/did.json /users/alice/did.json \
            /1.0/identifiers/did:key:z6MkiTBz1ymuepAQ4HEHYSF1H8quG5GLVVQR3djdX3mDooWp; do
  wrk -t1 -c8 -d2s "$BASE$path" >/dev/null   # warm-up (and fill caches)
  before=$(cpu_seconds)
  out=$(wrk -t1 -c16 -d"${SECONDS_PER_PATH}s" "$BASE$path")
  after=$(cpu_seconds)
  requests=$(echo "$out" | awk '/requests in/ { print $1 }')
  rps=$(echo "$out" | awk '/Requests\/sec/ { print $2 }')
  python3 -c "import sys; b,a,n,r=map(float,sys.argv[1:5]); print(f'{sys.argv[5]:<75} {(a-b)*1e6/n:6.1f} µs CPU/request  {r:9.0f} req/s')" \
    "$before" "$after" "$requests" "$rps" "$path"
done
