#!/usr/bin/env bash
# The main job, from a fresh clone: install, build, `berth pull alpine`, `berth run alpine sh`.
# Needs root (containers use namespaces, mounts and cgroups).
# When Docker Hub cannot be reached (as on the build machines), a loopback
# registry seeded from ../shared/images serves as docker.io's mirror, the way
# docker's registry-mirrors work.
set -euo pipefail
cd "$(dirname "$0")/.."

[ -d node_modules ] || npm ci --no-audit --no-fund
npm run build --silent >/dev/null

berth() { node packages/cli/dist/bin.js "$@"; }

hub=$(curl -s -o /dev/null -w '%{http_code}' -m 5 https://registry-1.docker.io/v2/ || true)
if [ "$hub" != 401 ] && [ "$hub" != 200 ]; then
  images=$(cd .. && pwd)/shared/images
  [ -d "$images/alpine" ] || { echo "demo: Docker Hub is unreachable and $images is missing" >&2; exit 1; }
  command -v docker-registry >/dev/null && command -v skopeo >/dev/null || {
    echo "demo: Docker Hub is unreachable; install docker-registry and skopeo (apt-get install -y docker-registry skopeo) for a local mirror" >&2; exit 1; }
  work=$(mktemp -d /tmp/berth-demo.XXXXXX)
  port=${BERTH_DEMO_PORT:-5599}
  cat >"$work/registry.yml" <<YAML
version: 0.1
storage: { filesystem: { rootdirectory: $work/data } }
http: { addr: 127.0.0.1:$port }
YAML
  docker-registry serve "$work/registry.yml" >"$work/registry.log" 2>&1 &
  registry_pid=$!
  trap 'kill $registry_pid 2>/dev/null; rm -rf "$work"' EXIT
  for _ in $(seq 50); do curl -fs "http://127.0.0.1:$port/v2/" >/dev/null && break; sleep 0.1; done
  skopeo copy -q --all --dest-tls-verify=false "oci:$images/alpine:latest" "docker://127.0.0.1:$port/library/alpine:latest"
  printf 'registries:\n  docker.io:\n    mirrors: ["http://127.0.0.1:%s"]\n' "$port" >"$work/config.yaml"
  export BERTH_CONFIG=$work/config.yaml
  echo "demo: Docker Hub unreachable; serving docker.io/library/alpine from a local mirror on 127.0.0.1:$port"
fi

berth pull alpine
if [ -t 0 ] && [ -t 1 ]; then
  berth run --rm -it alpine sh
else
  berth run --rm alpine sh -c 'echo "hello from $(hostname), PID $$, alpine $(cat /etc/alpine-release)"'
fi
