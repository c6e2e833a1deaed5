#!/usr/bin/env bash
# Server CPU per OpenID Connect request (issue 13 targets on this machine: an
# authorization_code exchange with an EdDSA ID token at most 150 µs, a discovery or JWKS
# GET at most 20 µs, a client_credentials token at most 50 µs). A release server under wrk
# on loopback; the server's CPU time (user + system, from /proc) divided by the requests
# it answered; the median of ROUNDS runs.
#
# The exchange needs a fresh code per request: a wrk script alternates
# `GET /authorize?prompt=none` (a signed-in session with remembered consent answers 303
# with a code at once) and `POST /token` redeeming that code with its PKCE verifier. The
# authorize step alone is measured too and subtracted. A password sign-in (Argon2id,
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
# Alternates an authorization (prompt=none: a code at once) and the exchange of that code.
exchange_script() { # client
  local basic; basic=$(printf %s "$1:$SECRET" | base64 -w0)
  cat > "$WORK/exchange-$1.lua" <<LUA
local codes = {}
local authorize = "/authorize?$(authorize_query "$1")&prompt=none"
local headers_get = { ["Cookie"] = "sichat_session=$SESSION" }
local headers_post = { ["Content-Type"] = "application/x-www-form-urlencoded", ["Authorization"] = "Basic $basic" }
tokens = 0
request = function()
  local code = table.remove(codes)
  if code then
    return wrk.format("POST", "/token", headers_post,
      "grant_type=authorization_code&code=" .. code .. "&redirect_uri=$REDIRECT&code_verifier=$VERIFIER")
  end
  return wrk.format("GET", authorize, headers_get)
end
response = function(status, headers, body)
  local location = headers["Location"] or headers["location"]
  if status == 303 and location then
    local code = location:match("[?&]code=([^&]+)")
    if code then table.insert(codes, code) end
  elseif status == 200 then
    tokens = tokens + 1
  else
    error("unexpected status " .. status)
  end
end
LUA
}

# wrk prints "N requests in"; a script that counts its token responses prints them too.
run_wrk() { wrk -t1 -c"${CONNECTIONS:-16}" -d"${SECONDS_PER_RUN}s" -s "$1" "$BASE"; }

measure() { # name lua [exchange]: "exchange" reports the exchange net of the authorize step
  if [ -n "${ONLY:-}" ] && ! [[ $1 =~ $ONLY ]]; then return; fi
  wrk -t1 -c4 -d2s -s "$2" "$BASE" >/dev/null   # warm-up
  runs=()
  for _ in $(seq 1 "${ROUNDS:-3}"); do
    before=$(cpu_seconds)
    out=$(run_wrk "$2")
    after=$(cpu_seconds)
    requests=$(echo "$out" | awk '/requests in/ { print $1 }')
    if [ "${3:-}" = exchange ]; then
      # Half the requests were authorizations (each measured alone below), half exchanges.
      runs+=("$(python3 -c "import sys; b,a,n,auth=map(float,sys.argv[1:]); ex=n/2; print(f'{((a-b)*1e6 - (n-ex)*auth)/ex:.0f}')" "$before" "$after" "$requests" "$AUTHORIZE_US")")
    else
      if echo "$out" | grep -q "Non-2xx"; then echo "$1: non-2xx answers:"; echo "$out"; exit 1; fi
      runs+=("$(python3 -c "import sys; b,a,n=map(float,sys.argv[1:]); print(f'{(a-b)*1e6/n:.0f}')" "$before" "$after" "$requests")")
    fi
  done
  median=$(python3 -c "import sys,statistics; print(f'{statistics.median(map(float,sys.argv[1:])):.0f}')" "${runs[@]}")
  printf '%-58s median %6s µs CPU/request  (runs %s)\n' "$1" "$median" "${runs[*]}"
  LAST=$median
}

get_script discovery /.well-known/openid-configuration
measure "GET /.well-known/openid-configuration" "$WORK/discovery.lua"
get_script jwks /jwks
measure "GET /jwks" "$WORK/jwks.lua"
cc_script
measure "POST /token client_credentials" "$WORK/cc.lua"
# The authorize step alone (303 with a code, session and consent remembered).
cat > "$WORK/authorize.lua" <<LUA
wrk.path = "/authorize?$(authorize_query rp-EdDSA)&prompt=none"
wrk.headers["Cookie"] = "sichat_session=$SESSION"
LUA
# (Measured whenever an exchange is: the exchange figure is net of it.)
if [ -z "${ONLY:-}" ] || [[ "authorization_code" =~ $ONLY ]] || [[ "GET /authorize" =~ $ONLY ]]; then
  ONLY= measure "GET /authorize prompt=none (303 with a code)" "$WORK/authorize.lua"
fi
AUTHORIZE_US=${LAST:-0}
for alg in EdDSA RS256; do
  exchange_script "rp-$alg"
  measure "POST /token authorization_code + PKCE, $alg ID token" "$WORK/exchange-rp-$alg.lua" exchange
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
