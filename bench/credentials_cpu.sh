#!/usr/bin/env bash
# Server CPU per credential request (issue 12 targets on 2 cores: eddsa-rdfc-2022 issue
# and verify at most 700 µs each, vc+jwt issue and verify at most 100 µs). A release
# server under wrk on loopback; the server's CPU time (user + system, from /proc) divided
# by the requests it answered; the median of ROUNDS runs. The credential is the criterion
# benchmark's (crates/core/benches/credentials.rs): VC 2.0, ~2 KB, 54 canonical quads.
# Needs `wrk` (Debian package) and a release build.
# Usage: [CONNECTIONS=16] [ROUNDS=3] [ONLY=regex] bench/credentials_cpu.sh [seconds per run]
# (ONLY: measure only the requests whose name matches, e.g. ONLY='verify.*with ')
source "$(dirname "$0")/common.sh"
SECONDS_PER_RUN=${1:-8}
WORK=$(mktemp -d)
trap 'kill $PID 2>/dev/null; wait $PID 2>/dev/null; rm -rf "$DIR" "$WORK"' EXIT

credential='{
  "@context": ["https://www.w3.org/ns/credentials/v2", "https://www.w3.org/ns/credentials/examples/v2"],
  "type": ["VerifiableCredential", "ExampleDegreeCredential"],
  "name": "Example University Degree",
  "description": "A bachelor'"'"'s degree awarded by Example University to one of its graduates.",
  "validFrom": "2024-06-01T00:00:00Z",
  "validUntil": "2034-06-01T00:00:00Z",
  "credentialSubject": {
    "id": "did:example:ebfeb1f712ebc6f1c276e12ec21",
    "name": "Alice Example", "birthDate": "2001-02-03",
    "degree": {"type": "ExampleBachelorDegree", "name": "Bachelor of Science and Arts",
               "field": "Computer Science", "honours": "First Class", "year": 2024},
    "alumniOf": {"id": "did:example:c276e12ec21ebfeb1f712ebc6f1", "name": "Example University",
                 "address": {"addressLocality": "Geneva", "addressCountry": "CH"}},
    "studentNumber": "2020-123456", "graduationDate": "2024-05-31", "gpa": 3.72,
    "email": "alice@university.example", "nationality": "CH",
    "courses": ["Algorithms", "Distributed Systems", "Cryptography", "Databases"],
    "thesis": {"title": "Verifiable credentials without a network",
               "supervisor": "Prof. Bob Example", "grade": "A"},
    "homeAddress": {"streetAddress": "1 Example Street", "postalCode": "1200"}
  }
}'

# A wrk script POSTing the JSON in $1 to the path in $2.
post_script() {
  python3 - "$1" "$2" "$WORK/$3.lua" <<'PY'
import json, sys
body, path, out = open(sys.argv[1]).read(), sys.argv[2], sys.argv[3]
open(out, "w").write(
    'wrk.method = "POST"\n'
    f'wrk.path = {json.dumps(path)}\n'
    f'wrk.body = {json.dumps(body)}\n'
    'wrk.headers["Content-Type"] = "application/json"\n'
    f'wrk.headers["Authorization"] = "Bearer {sys.argv[0] and __import__("os").environ["TOKEN"]}"\n')
PY
}
export TOKEN

measure() { # name lua
  if [ -n "${ONLY:-}" ] && ! [[ $1 =~ $ONLY ]]; then return; fi
  wrk -t1 -c4 -d2s -s "$2" "$BASE" >/dev/null   # warm-up
  runs=()
  for _ in $(seq 1 "${ROUNDS:-3}"); do
    before=$(cpu_seconds)
    out=$(wrk -t1 -c"${CONNECTIONS:-16}" -d"${SECONDS_PER_RUN}s" -s "$2" "$BASE")
    after=$(cpu_seconds)
    if echo "$out" | grep -q "Non-2xx"; then echo "$1: non-2xx answers:"; echo "$out"; exit 1; fi
    requests=$(echo "$out" | awk '/requests in/ { print $1 }')
    runs+=("$(python3 -c "import sys; b,a,n=map(float,sys.argv[1:]); print(f'{(a-b)*1e6/n:.0f}')" "$before" "$after" "$requests")")
  done
  python3 -c "import sys,statistics; v=sorted(map(float,sys.argv[2:])); print(f'{sys.argv[1]:<45} median {statistics.median(v):6.0f} µs CPU/request  (runs {v})')" "$1" "${runs[@]}"
}

for format in eddsa vc+jwt; do
  case $format in
    eddsa) options='{}' ;;
    vc+jwt) options='{"format": "vc+jwt"}' ;;
  esac
  for status in with without; do
    opts=$options
    [ $status = without ] && opts=$(echo "$options" | python3 -c 'import json,sys; o=json.load(sys.stdin); o["credentialStatus"]=False; print(json.dumps(o))')
    echo "{\"credential\": $credential, \"options\": $opts}" > "$WORK/issue.json"
    post_script "$WORK/issue.json" /credentials/issue "issue-$format-$status"
    measure "issue $format ($status status entries)" "$WORK/issue-$format-$status.lua"
    curl -fsS -X POST "$BASE/credentials/issue" -H "Authorization: Bearer $TOKEN" \
      -H 'content-type: application/json' -d @"$WORK/issue.json" \
      | python3 -c 'import json,sys; print(json.dumps({"verifiableCredential": json.load(sys.stdin)["verifiableCredential"]}))' \
      > "$WORK/verify.json"
    post_script "$WORK/verify.json" /credentials/verify "verify-$format-$status"
    measure "verify $format ($status status entries)" "$WORK/verify-$format-$status.lua"
  done
done
