#!/usr/bin/env bash
# End-to-end check of a running confab server with the two Python demo clients:
#
#     clients/python/demo_check.sh [BASE_URL]      (default http://127.0.0.1:8000)
#
# Runs client_1 and client_2 (client_2 a second later) in --script mode with fresh
# users and a fresh room; each sends one room line and one DM and expects the other's
# two texts. Exits 0 when both got everything, non-zero (with a message) otherwise.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
URL="${1:-http://127.0.0.1:8000}"
if [[ "$URL" == -h || "$URL" == --help ]]; then
    sed -n '2,8s/^# \{0,1\}//p' "${BASH_SOURCE[0]}"
    exit 0
fi

PY="$("$ROOT/scripts/pyenv")"
tag="$(date +%s | tail -c 7)$RANDOM"   # usernames must match ^[a-z0-9_.-]{3,32}$
u1="alice_$tag"
u2="bob_$tag"
room="demo-$tag"
echo "demo_check: $URL, users $u1 and $u2, room $room" >&2

# run NAME CLIENT ARGS...: one client, its output prefixed with NAME.
run() {
    local name="$1"
    shift
    PYTHONUNBUFFERED=1 "$PY" "$HERE/$1" --url "$URL" --room "$room" "${@:2}" 2>&1 |
        while IFS= read -r line; do printf '%s | %s\n' "$name" "$line"; done
}

run client_1 client_1.py --username "$u1" --peer "$u2" \
    --script "room hello from $u1|/dm secret from $u1" \
    --expect "room hello from $u2" --expect "secret from $u2" &
pid1=$!
sleep 1
run client_2 client_2.py --username "$u2" --peer "$u1" \
    --script "room hello from $u2|/dm secret from $u2" \
    --expect "room hello from $u1" --expect "secret from $u1" &
pid2=$!

rc1=0 rc2=0
wait "$pid1" || rc1=$?
wait "$pid2" || rc2=$?
if (( rc1 == 0 && rc2 == 0 )); then
    echo "demo_check: OK: both clients received the other's room message and DM" >&2
    exit 0
fi
explain() {
    case "$2" in
        0) ;;
        1) echo "demo_check: FAILED: $1 did not receive every expected message (exit 1)" >&2 ;;
        *) echo "demo_check: FAILED: $1 exited with $2 (error; see its output above)" >&2 ;;
    esac
}
explain client_1 "$rc1"
explain client_2 "$rc2"
exit 1
