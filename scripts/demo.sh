#!/usr/bin/env bash
# The main job, from a fresh clone: set-up, install, build, `berth pull alpine`, `berth run alpine sh`.
# Needs root (the Debian packages it installs; containers use namespaces, mounts and cgroups).
# When Docker Hub cannot be reached (as on the build machines), or BERTH_DEMO_LOCAL=1, a
# loopback registry seeded from ../shared/images serves as docker.io's mirror, the way
# docker's registry-mirrors work. It listens on a port the kernel picked as free, and
# whatever happens (a failure, Ctrl-C) it is stopped and its temp dir removed on exit.
# BERTH_DEMO_NO_BUILD=1 skips `npm ci`/`npm run build` (the tests run it after `npm test` built:
# a rebuild rewrites dist/ under the other tests' feet).
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/setup-system.sh
if [ "${BERTH_DEMO_NO_BUILD:-}" != 1 ]; then
  [ -d node_modules ] || npm ci --no-audit --no-fund
  npm run build --silent >/dev/null
fi

berth() { node packages/cli/dist/bin.js "$@"; }
fail() { echo "demo: $*" >&2; exit 1; }

work=
registry_pid=
stop_registry() {
  if [ -n "$registry_pid" ]; then
    kill "$registry_pid" 2>/dev/null || true
    wait "$registry_pid" 2>/dev/null || true
    registry_pid=
  fi
}
# No `set -e` abort can stop this half-way: every step tolerates failure.
cleanup() {
  stop_registry
  if [ -n "$work" ]; then rm -rf "$work" || true; fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM HUP

# A TCP port on 127.0.0.1 that was free a moment ago (the kernel's pick).
free_port() {
  node -e 'const s = require("node:net").createServer(); s.listen(0, "127.0.0.1", () => { console.log(s.address().port); s.close(); });'
}

# docker-registry on a free port; true once it answers GET /v2/ and is still running
# (a registry that lost the race for its port exits, and the next port is tried).
start_registry() {
  local attempt port
  for attempt in 1 2 3 4 5; do
    port=$(free_port) || return 1
    cat >"$work/registry.yml" <<YAML
version: 0.1
storage: { filesystem: { rootdirectory: $work/data } }
http: { addr: 127.0.0.1:$port }
YAML
    docker-registry serve "$work/registry.yml" >"$work/registry.log" 2>&1 &
    registry_pid=$!
    for _ in $(seq 100); do
      kill -0 "$registry_pid" 2>/dev/null || break
      if curl -fs -m 2 -o /dev/null "http://127.0.0.1:$port/v2/" && kill -0 "$registry_pid" 2>/dev/null; then
        registry_port=$port
        return 0
      fi
      sleep 0.1
    done
    stop_registry
  done
  return 1
}

why="BERTH_DEMO_LOCAL=1"
if [ "${BERTH_DEMO_LOCAL:-}" != 1 ]; then
  hub=$(curl -s -o /dev/null -w '%{http_code}' -m 5 https://registry-1.docker.io/v2/ || true)
  why="Docker Hub unreachable"
  if [ "$hub" = 401 ] || [ "$hub" = 200 ]; then why=; fi
fi
if [ -n "$why" ]; then
  images=$(cd .. && pwd)/shared/images
  [ -d "$images/alpine" ] || fail "$why and $images is missing"
  work=$(mktemp -d "${TMPDIR:-/tmp}/berth-demo.XXXXXX")
  start_registry || fail "the local registry did not start: $(tail -n 1 "$work/registry.log" 2>/dev/null || echo 'no log')"
  skopeo copy -q --all --dest-tls-verify=false "oci:$images/alpine:latest" "docker://127.0.0.1:$registry_port/library/alpine:latest" ||
    fail "could not seed the local registry on 127.0.0.1:$registry_port with $images/alpine"
  printf 'registries:\n  docker.io:\n    mirrors: ["http://127.0.0.1:%s"]\n' "$registry_port" >"$work/config.yaml"
  export BERTH_CONFIG=$work/config.yaml
  echo "demo: $why; serving docker.io/library/alpine from a local mirror on 127.0.0.1:$registry_port"
fi

berth pull alpine
if [ -t 0 ] && [ -t 1 ]; then
  berth run --rm -it alpine sh
else
  berth run --rm alpine sh -c 'echo "hello from $(hostname), PID $$, alpine $(cat /etc/alpine-release)"'
fi
