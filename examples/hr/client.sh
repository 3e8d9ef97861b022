#!/usr/bin/env bash
# Asks clipper about the tutorial's three candidates with curl. usage: client.sh [QUERY_URL] [APP]
set -euo pipefail
URL=${1:-http://127.0.0.1:1337}
APP=${2:-hr-hiring}
for input in '[5.0, 3.0, 85.0, 4.5, 2.0]' '[2.0, 2.0, 70.0, 3.0, 1.0]' '[8.0, 4.0, 95.0, 5.0, 3.0]'; do
  printf '%s -> ' "$input"
  curl -sS -X POST -H 'content-type: application/json' -d "{\"input\": $input}" "$URL/$APP/predict"
  echo
done
