#!/bin/sh
# Log in once, visit /profile a few times, log out: the lesson as a user lives it, with curl.
#
#   sh docs/clients/session-walk.sh [username] [password] [visits]
#   COATCHECK_URL=http://localhost:8080 sh docs/clients/session-walk.sh ravi gold-member 9
#
# Each visit prints the status and the instance that answered (the x-served-by header).
# The cookie jar is a temporary file: the wristband, kept between requests as a browser would.
set -eu

base=${COATCHECK_URL:-http://localhost:8080}
user=${1:-testuser}
pass=${2:-testpass}
visits=${3:-6}
jar=$(mktemp)
trap 'rm -f "$jar"' EXIT

printf 'login as %s: ' "$user"
curl -sS -c "$jar" -b "$jar" -o /dev/null -w '%{http_code} %header{x-served-by}\n' \
  -H 'content-type: application/json' \
  -d "{\"username\":\"$user\",\"password\":\"$pass\"}" "$base/login"

ok=0
i=1
while [ "$i" -le "$visits" ]; do
  line=$(curl -sS -c "$jar" -b "$jar" -o /dev/null -w '%{http_code} %header{x-served-by}' "$base/profile")
  echo "profile $i: $line"
  case $line in 200*) ok=$((ok + 1)) ;; esac
  i=$((i + 1))
done
echo "logged in on $ok of $visits visits"

printf 'logout: '
curl -sS -c "$jar" -b "$jar" -X POST "$base/logout"
echo
