#!/usr/bin/env bash
# Smoke test of the roam container image.
#
#   deploy/smoke.sh PATH/TO/roam
#
# Builds roam:local with deploy/build-image.sh (and roam-base:local first if it
# is missing, which needs root and Debian's package mirror), starts a node in a
# container with a fresh volume on /data, waits until `roam node status`
# answers, makes a workspace in a throwaway repository inside the container,
# restarts the container, checks the workspace is still listed, then checks
# that `docker stop` ends the node through SIGTERM rather than SIGKILL. Removes
# the container and volume at the end, pass or fail.
#
# Environment: ROAM_SMOKE_IMAGE (default roam:local), ROAM_SMOKE_KEEP=1 keeps
# the container and volume for a post-mortem.
set -euo pipefail

if [[ $# -ne 1 ]]; then
    echo "usage: $0 PATH/TO/roam" >&2
    exit 2
fi
roam_bin=$1
image=${ROAM_SMOKE_IMAGE:-roam:local}
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
suffix="$$-$(date +%s)"
container="roam-smoke-$suffix"
volume="roam-smoke-data-$suffix"
started=$(date +%s)

step() {
    echo "smoke: [$(($(date +%s) - started))s] $*" >&2
}
fail() {
    echo "smoke: FAIL: $*" >&2
    if docker container inspect "$container" >/dev/null 2>&1; then
        echo "smoke: last lines of the container's log:" >&2
        docker logs --tail 30 "$container" 2>&1 | sed 's/^/    /' >&2 || true
    fi
    exit 1
}
cleanup() {
    local rc=$?
    if [[ ${ROAM_SMOKE_KEEP:-0} == 1 ]]; then
        echo "smoke: keeping container $container and volume $volume" >&2
    else
        docker rm -f "$container" >/dev/null 2>&1 || true
        docker volume rm -f "$volume" >/dev/null 2>&1 || true
    fi
    exit "$rc"
}
trap cleanup EXIT

# Run a command inside the container as its default user (roam, ROAM_HOME=/data).
in_container() {
    docker exec "$container" "$@"
}

wait_for_status() {
    local what=$1 deadline=$(($(date +%s) + 60))
    while ! in_container roam node status >/dev/null 2>&1; do
        if [[ $(docker inspect -f '{{.State.Running}}' "$container" 2>/dev/null) != true ]]; then
            fail "container stopped while waiting for the node ($what)"
        fi
        if (($(date +%s) >= deadline)); then
            fail "roam node status did not succeed within 60 s ($what)"
        fi
        sleep 1
    done
}

# Exit 0 when the JSON array on stdin has an element whose "name" is $1.
lists_workspace() {
    local name=$1
    if command -v python3 >/dev/null; then
        python3 -c '
import json, sys
items = json.load(sys.stdin)
sys.exit(0 if any(isinstance(i, dict) and i.get("name") == sys.argv[1] for i in items) else 1)
' "$name"
    else
        grep -Eq "\"name\"[[:space:]]*:[[:space:]]*\"$name\""
    fi
}

[[ -x $roam_bin ]] || fail "roam binary not found or not executable: $roam_bin"
command -v docker >/dev/null || fail "docker not found"

step "building $image"
"$here/build-image.sh" "$roam_bin" "$image" || fail "build-image.sh failed"

step "starting container $container with volume $volume on /data"
docker volume create "$volume" >/dev/null
# Short health interval so the image's HEALTHCHECK is exercised quickly.
docker run -d --name "$container" \
    --mount "type=volume,source=$volume,target=/data" \
    --health-interval 2s --health-start-period 2s \
    "$image" >/dev/null || fail "docker run failed"

step "waiting for roam node status"
wait_for_status "first start"
in_container roam node status >&2

step "creating workspace demo in a throwaway repository"
in_container sh -ec '
    git init -q /tmp/demo
    cd /tmp/demo
    echo hello > README
    git add README
    git -c user.name=smoke -c user.email=smoke@localhost commit -q -m init
' || fail "could not make the throwaway repository in the container"
in_container roam new demo --repo /tmp/demo --agent shell >&2 \
    || fail "roam new demo failed"
in_container roam ls --json | lists_workspace demo \
    || fail "roam ls --json does not list demo right after roam new"

step "checking the image's HEALTHCHECK reports healthy"
deadline=$(($(date +%s) + 60))
until [[ $(docker inspect -f '{{.State.Health.Status}}' "$container") == healthy ]]; do
    (($(date +%s) < deadline)) || fail "container did not become healthy within 60 s"
    sleep 1
done

step "docker restart"
t0=$(date +%s)
docker restart -t 30 "$container" >/dev/null || fail "docker restart failed"
t1=$(date +%s)
# A node that ignored SIGTERM would have been killed after the full 30 s.
(((t1 - t0) < 25)) || fail "restart took $((t1 - t0)) s: the node did not stop on SIGTERM"
wait_for_status "after restart"

step "checking demo survived the restart"
listing=$(in_container roam ls --json) || fail "roam ls --json failed after restart"
lists_workspace demo <<<"$listing" || {
    echo "$listing" >&2
    fail "roam ls --json does not list demo after the restart"
}

step "docker stop (graceful)"
docker stop -t 30 "$container" >/dev/null || fail "docker stop failed"
code=$(docker inspect -f '{{.State.ExitCode}}' "$container")
# 137 = SIGKILL after the grace period; tini passes the node's own status on.
[[ $code != 137 ]] || fail "node was SIGKILLed on stop (exit 137), not stopped by SIGTERM"
[[ $code == 0 || $code == 143 ]] || fail "node exited with status $code on SIGTERM"
docker logs "$container" 2>&1 | grep -q "node stopped" \
    || step "note: no 'node stopped' line in the container log"

step "PASS ($(($(date +%s) - started)) s)"
