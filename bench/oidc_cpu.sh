#!/usr/bin/env bash
# Server CPU per OpenID Connect request (issue 13 targets on this machine: an
# authorization_code exchange with an EdDSA ID token at most 150 µs, a discovery or JWKS
# GET at most 20 µs, a client_credentials token at most 50 µs). A release server under wrk
# on loopback; the server's CPU time (user + system, from /proc) divided by the requests
# it answered; the median of ROUNDS runs.
#
# The exchange needs a fresh code per request: a first wrk run collects codes with
# `GET /authorize?prompt=none` (a signed-in session with remembered consent answers 303
# with a code at once; its CPU is reported too), a second redeems each once with its PKCE
# verifier (`POST /token`), and only that run is counted for the exchange. A password sign-in (Argon2id,
# m=19456 KiB, t=2, p=1: the argon2 crate's defaults) is measured apart, sequentially
# (the sign-in rate limit allows 10 a minute per account).
# Needs `wrk` (Debian package), curl, python3 and a release build.
# Usage: [CONNECTIONS=16] [ROUNDS=3] [ONLY=regex] bench/oidc_cpu.sh [seconds per run]
source "$(dirname "$0")/common.sh"
SECONDS_PER_RUN=${1:-8}
WORK=$(mktemp -d)
trap 'kill $PID 2>/dev/null; wait $PID 2>/dev/null; rm -rf "$DIR" "$WORK"' EXIT
VERIFIER=dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk
CHALLENGE=$(printf %s "$VERIFIER" | openssl dgst -sha256 -binary | basenc --base64url | tr -d '=')
SECRET=bench-secret-0123456789-0123456789-abcdef
PASSWORD='correct horse battery'
REDIRECT=https://rp.example/cb
admin() { curl -fsS -X POST "$BASE$1" -H "Authorization: Bearer $TOKEN" -H 'content-type: application/json' -d "$2" >/dev/null; }
admin /admin/users "{\"name\": \"ann\", \"password\": \"$PASSWORD\", \"email\": \"ann@example.org\"}"
for alg in EdDSA RS256; do
  admin /admin/clients "{\"client_id\": \"rp-$alg\", \"redirect_uris\": [\"$REDIRECT\"], \"client_secret\": \"$SECRET\", \"id_token_signed_response_alg\": \"$alg\"}"
done
admin /admin/clients "{\"client_id\": \"bot\", \"grant_types\": [\"client_credentials\"], \"scope\": \"issue:credentials\", \"client_secret\": \"$SECRET\"}"
BASIC=$(printf %s "bot:$SECRET" | base64 -w0)

# Sign in once through the pages and allow both clients: the session cookie is kept.
JAR=$WORK/cookies
field() { sed -n "s/.*name=\"$1\" value=\"\([^\"]*\)\".*/\1/p" | head -n1 | sed 's/&amp;/\&/g'; }
authorize_query() { echo "client_id=$1&redirect_uri=$REDIRECT&response_type=code&scope=openid%20email&code_challenge=$CHALLENGE&code_challenge_method=S256&state=s&nonce=n"; }
page=$(curl -fsS -c "$JAR" -b "$JAR" "$BASE/authorize?$(authorize_query rp-EdDSA)")
csrf=$(echo "$page" | field csrf); tx=$(echo "$page" | field tx)
next=$(curl -sS -o /dev/null -w '%{redirect_url}' -c "$JAR" -b "$JAR" --data-urlencode "csrf=$csrf" \
  --data-urlencode "tx=$tx" --data-urlencode "username=ann" --data-urlencode "password=$PASSWORD" "$BASE/login")
for client in rp-EdDSA rp-RS256; do
  page=$(curl -fsS -c "$JAR" -b "$JAR" "$BASE/authorize?$(authorize_query $client)")
  csrf=$(echo "$page" | field csrf); tx=$(echo "$page" | field tx)
  curl -sS -o /dev/null -c "$JAR" -b "$JAR" --data-urlencode "csrf=$csrf" --data-urlencode "tx=$tx" \
    --data-urlencode decision=allow "$BASE/authorize/consent"
done
SESSION=$(awk '$6 == "sichat_session" { print $7 }' "$JAR")
[ -n "$SESSION" ] || { echo "no session cookie" >&2; exit 1; }

get_script() { # name path [cookie]
  cat > "$WORK/$1.lua" <<LUA
wrk.path = "$2"
${3:+wrk.headers["Cookie"] = "sichat_session=$3"}
LUA
}
cc_script() {
  cat > "$WORK/cc.lua" <<LUA
wrk.method = "POST"
wrk.path = "/token"
wrk.body = "grant_type=client_credentials&scope=issue%3Acredentials"
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
wrk.headers["Authorization"] = "Basic $BASIC"
LUA
}
# Authorizations only (prompt=none: a 303 with a code at once), each code written to $2.
collect_script() { # client codes-file
  cat > "$WORK/collect-$1.lua" <<LUA
wrk.path = "/authorize?$(authorize_query "$1")&prompt=none"
wrk.headers["Cookie"] = "sichat_session=$SESSION"
local out
init = function(args) out = io.open("$2", "w") end
response = function(status, headers, body)
  local location = headers["Location"] or headers["location"]
  local code = status == 303 and location and location:match("[?&]code=([^&]+)")
  if not code then error("authorize answered " .. status) end
  out:write(code, "\n")
  out:flush()
end
LUA
}
# Exchanges of the collected codes, each once; stops before they run out.
exchange_script() { # client codes-file
  local basic; basic=$(printf %s "$1:$SECRET" | base64 -w0)
  cat > "$WORK/exchange-$1.lua" <<LUA
local codes, next_code = {}, 0
local headers = { ["Content-Type"] = "application/x-www-form-urlencoded", ["Authorization"] = "Basic $basic" }
init = function(args)
  for line in io.lines("$2") do codes[#codes + 1] = line end
end
request = function()
  next_code = next_code + 1
  local code = codes[next_code] or "spent"
  return wrk.format("POST", "/token", headers,
    "grant_type=authorization_code&code=" .. code .. "&redirect_uri=$REDIRECT&code_verifier=$VERIFIER")
end
response = function(status, headers, body)
  if status ~= 200 then error("token answered " .. status .. " " .. body) end
  if next_code + ${CONNECTIONS:-16} >= #codes then wrk.thread:stop() end
end
LUA
}

# wrk prints "N requests in"; a script that counts its token responses prints them too.
run_wrk() { wrk -t1 -c"${CONNECTIONS:-16}" -d"${SECONDS_PER_RUN}s" -s "$1" "$BASE"; }

measure() { # name lua
  if [ -n "${ONLY:-}" ] && ! [[ $1 =~ $ONLY ]]; then return; fi
  wrk -t1 -c4 -d2s -s "$2" "$BASE" >/dev/null   # warm-up
  runs=()
  for _ in $(seq 1 "${ROUNDS:-3}"); do
    before=$(cpu_seconds)
    out=$(run_wrk "$2")
    after=$(cpu_seconds)
    [ -n "${VERBOSE:-}" ] && echo "$out" >&2
    if echo "$out" | grep -q "Non-2xx"; then echo "$1: non-2xx answers:"; echo "$out"; exit 1; fi
    requests=$(echo "$out" | awk '/requests in/ { print $1 }')
    runs+=("$(python3 -c "import sys; b,a,n=map(float,sys.argv[1:]); print(f'{(a-b)*1e6/n:.0f}')" "$before" "$after" "$requests")")
  done
  report "$1"
}
report() {
  median=$(python3 -c "import sys,statistics; print(f'{statistics.median(map(float,sys.argv[1:])):.0f}')" "${runs[@]}")
  printf '%-58s median %6s µs CPU/request  (runs %s)\n' "$1" "$median" "${runs[*]}"
}
# The exchange: each round collects fresh codes (measuring the authorize step), then
# redeems them (measuring the token endpoint alone).
measure_exchange() { # client alg
  local name="POST /token authorization_code + PKCE, $2 ID token"
  if [ -n "${ONLY:-}" ] && ! [[ $name =~ $ONLY ]]; then return; fi
  local codes=$WORK/codes-$1
  collect_script "$1" "$codes"; exchange_script "$1" "$codes"
  authorize_runs=(); runs=()
  for _ in $(seq 1 "${ROUNDS:-3}"); do
    before=$(cpu_seconds)
    out=$(wrk -t1 -c"${CONNECTIONS:-16}" -d"${SECONDS_PER_RUN}s" -s "$WORK/collect-$1.lua" "$BASE")
    after=$(cpu_seconds)
    n=$(wc -l < "$codes")
    authorize_runs+=("$(python3 -c "import sys; b,a,n=map(float,sys.argv[1:]); print(f'{(a-b)*1e6/n:.0f}')" "$before" "$after" "$n")")
    before=$(cpu_seconds)
    # (wrk's thread:stop() ends the requests, not the run: size the run to the codes.)
    out=$(wrk -t1 -c"${CONNECTIONS:-16}" -d"$(( n / 1000 + 2 ))s" -s "$WORK/exchange-$1.lua" "$BASE")
    after=$(cpu_seconds)
    [ -n "${VERBOSE:-}" ] && echo "$out" >&2
    requests=$(echo "$out" | awk '/requests in/ { print $1 }')
    runs+=("$(python3 -c "import sys; b,a,n=map(float,sys.argv[1:]); print(f'{(a-b)*1e6/n:.0f}')" "$before" "$after" "$requests")")
  done
  report "$name"
  local saved=("${runs[@]}"); runs=("${authorize_runs[@]}")
  report "  (GET /authorize prompt=none, 303 with a code, $1)"
  runs=("${saved[@]}")
}

get_script discovery /.well-known/openid-configuration
measure "GET /.well-known/openid-configuration" "$WORK/discovery.lua"
get_script jwks /jwks
measure "GET /jwks" "$WORK/jwks.lua"
cc_script
measure "POST /token client_credentials" "$WORK/cc.lua"
for alg in EdDSA RS256; do
  measure_exchange "rp-$alg" "$alg"
done

# Password sign-in, measured apart: 8 sequential sign-ins (Argon2id verification).
if [ -z "${ONLY:-}" ] || [[ "password sign-in" =~ $ONLY ]]; then
  before=$(cpu_seconds); start=$(date +%s.%N)
  for _ in $(seq 1 8); do
    page=$(curl -fsS -c "$JAR.2" -b "$JAR.2" "$BASE/login")
    csrf=$(echo "$page" | field csrf)
    code=$(curl -sS -o /dev/null -w '%{http_code}' -c "$JAR.2" -b "$JAR.2" --data-urlencode "csrf=$csrf" \
      --data-urlencode username=ann --data-urlencode "password=$PASSWORD" "$BASE/login")
    [ "$code" = 303 ] || { echo "sign-in answered $code" >&2; exit 1; }
  done
  after=$(cpu_seconds); end=$(date +%s.%N)
  python3 -c "import sys; b,a,s,e=map(float,sys.argv[1:]); print(f'{\"POST /login (Argon2id m=19456 KiB, t=2, p=1)\":<58} {(a-b)*1e3/8:6.1f} ms CPU, {(e-s)*1e3/8:6.1f} ms wall per sign-in')" "$before" "$after" "$start" "$end"
fi
