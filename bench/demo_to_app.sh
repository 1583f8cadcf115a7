#!/usr/bin/env bash
# Time from a clean clone to a working analyst app: clone, ./scripts/demo in the background,
# then poll the address it prints until the app's health endpoint and page answer.
#   bench/demo_to_app.sh [CLONE_DIR] [LOG]          (this machine's caches)
#   XDG_CACHE_HOME=$(mktemp -d) bench/demo_to_app.sh  (empty caches: uv downloads every package)
# Prints the seconds and the demo's stage times; stops the app and leaves the clone.
set -uo pipefail
REPO=$(cd "$(dirname "$0")/.." && pwd)
DIR=${1:-$(mktemp -d)/clone}
LOG=${2:-$DIR.log}
rm -rf "$DIR"
SECONDS=0
git clone -q "$REPO" "$DIR" || exit 1
cd "$DIR" || exit 1
./scripts/demo > "$LOG" 2>&1 &
PID=$!
url=""
while kill -0 "$PID" 2>/dev/null; do
  url=$(grep -oE "http://127\.0\.0\.1:[0-9]+" "$LOG" | head -1)
  if [ -n "$url" ] && curl -sf "$url/_stcore/health" >/dev/null && curl -sf "$url/" >/dev/null; then
    break
  fi
  sleep 1
done
took=$SECONDS
pkill -TERM -P "$PID" 2>/dev/null; kill "$PID" 2>/dev/null; wait "$PID" 2>/dev/null
grep -E "stage times|recall_at_1pct_fpr|flag_recall" "$LOG"
if [ -z "$url" ]; then echo "the demo ended without starting the app (see $LOG)"; exit 1; fi
echo "clone to a working app: $took s (load average $(cut -d' ' -f1-3 /proc/loadavg))"
