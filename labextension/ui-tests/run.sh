#!/usr/bin/env bash
# Browser tests of the JupyterLab extension against a real JupyterLab on the local cluster.
#
#   labextension/ui-tests/run.sh [playwright test args...]
#
# First run (what a newcomer gets): starts JupyterLab through the README's `scripts/lab`
# with no configuration at all (an empty JUPYTER_CONFIG_DIR; its own XDG_STATE_HOME, so its
# cluster has its own state dir; XDG_CACHE_HOME as it is, so the control-plane build is
# reused), runs the Playwright project `firstrun` (tests/firstrun.spec.ts) against it, then
# stops that JupyterLab and its cluster. K8S_UI_SKIP_FIRST_RUN=1 skips this phase.
#
# Main phase: starts the local cluster (its own state dir; one fake GPU; Kueue with the
# sample LocalQueue `gpu` for tests/queues.spec.ts) and JupyterLab with small test profiles,
# runs the Playwright project `main` (every other spec; the arguments go here), and stops
# everything on exit. K8S_UI_KUEUE=0 starts the cluster without Kueue (the queue spec skips).
#
# Playwright drives Debian's Chromium (/usr/bin/chromium; no browser download). Needs: the
# venv at .venv with jupyter-k8s installed (and the labextension built), `jlpm install` done
# in labextension/, chromium installed. Screenshots land in docs/images/; timings of both
# phases in ui-tests/test-results/timings.json, the first run's artifacts (traces of a
# failure) in ui-tests/test-results/first-run/.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
# shellcheck disable=SC1091
. "$root/.venv/bin/activate"

work="$(mktemp -d "${TMPDIR:-/tmp}/jupyter-k8s-ui.XXXXXX")"
state="$work/cluster"
first="$work/first-run"
lab_pid=""
first_pid=""
first_up=""

# SIGTERM, then SIGKILL if JupyterLab has not exited within 15 s.
stop_lab() {
  local pid=$1
  kill "$pid" 2>/dev/null || true
  for _ in $(seq 1 30); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.5
  done
  if kill -0 "$pid" 2>/dev/null; then
    echo "==> JupyterLab did not stop on SIGTERM within 15 s: killing it"
    kill -9 "$pid" 2>/dev/null || true
  fi
  wait "$pid" 2>/dev/null || true
}

# The first run's JupyterLab (scripts/lab exec's into it; it leads its own session, so
# whatever scripts/lab still ran when stopped early goes too), then its cluster.
stop_first_run() {
  if [ -n "$first_pid" ]; then
    stop_lab "$first_pid"
    kill -- "-$first_pid" 2>/dev/null || true
    first_pid=""
  fi
  if [ -n "$first_up" ]; then
    XDG_STATE_HOME="$first/state" python -m jupyter_k8s.cli dev-cluster down >/dev/null 2>&1 || true
    first_up=""
  fi
}

# The first run's Playwright outputs join test-results/ (which the main phase's Playwright
# empties when it starts): its timings merged into timings.json, the rest under first-run/.
keep_first_run_results() {
  local from="$first/results" to="$here/test-results"
  [ -d "$from" ] || return 0
  mkdir -p "$to"
  if [ -f "$from/timings.json" ]; then
    python - "$from/timings.json" "$to/timings.json" <<'PY'
import json
import os
import sys

first, out = sys.argv[1], sys.argv[2]
with open(first) as f:
    timings = json.load(f)
if os.path.exists(out):
    with open(out) as f:
        timings.update(json.load(f))
with open(out, "w") as f:
    json.dump(timings, f, indent=2)
PY
    rm -f "$from/timings.json"
  fi
  rm -rf "$to/first-run"
  cp -r "$from" "$to/first-run"
}

cleanup() {
  status=$?
  stop_first_run
  if [ -n "$lab_pid" ]; then
    stop_lab "$lab_pid"
  fi
  python -m jupyter_k8s.cli dev-cluster --state-dir "$state" down >/dev/null 2>&1 || true
  keep_first_run_results || true
  if [ "$status" -ne 0 ]; then
    for log in "$first/lab.log" "$work/lab.log"; do
      if [ -f "$log" ]; then
        echo "==> $log (last 40 lines):"
        tail -n 40 "$log"
      fi
    done
  fi
  rm -rf "$work"
  exit "$status"
}
trap cleanup EXIT
# Stopped (Ctrl-C, SIGTERM): clean up and fail, with the signal's status.
trap 'exit 130' INT
trap 'exit 143' TERM

free_port() {
  python -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
new_token() {
  echo "ui-$(python -c 'import secrets; print(secrets.token_hex(8))')"
}
now_ms() { date +%s%3N; }

# No "Jupyter news?" toast over the screenshots (a settings dir of JupyterLab's).
quiet_settings() {
  mkdir -p "$1/@jupyterlab/apputils-extension"
  echo '{"fetchNews": "false", "checkForUpdates": false}' \
    >"$1/@jupyterlab/apputils-extension/notification.jupyterlab-settings"
}

rc=0
if [ "${K8S_UI_SKIP_FIRST_RUN:-}" != 1 ]; then
  echo "==> first run: scripts/lab with no configuration"
  mkdir -p "$first/state" "$first/config" "$first/root" "$first/workspaces"
  quiet_settings "$first/settings"
  first_port="$(free_port)"
  first_token="$(new_token)"
  first_up=1 # from here on, cleanup stops its cluster
  t0=$(now_ms)
  (
    cd "$root"
    XDG_STATE_HOME="$first/state" \
      JUPYTER_CONFIG_DIR="$first/config" \
      JUPYTERLAB_SETTINGS_DIR="$first/settings" \
      JUPYTERLAB_WORKSPACES_DIR="$first/workspaces" \
      exec setsid scripts/lab --no-browser --ip 127.0.0.1 --port "$first_port" \
      --ServerApp.token="$first_token" --ServerApp.root_dir="$first/root"
  ) >"$first/lab.log" 2>&1 &
  first_pid=$!
  ready=""
  # Up to 30 min: scripts/setup builds the control plane when it is not cached yet.
  for _ in $(seq 1 3600); do
    if curl -fs -o /dev/null -H "Authorization: token $first_token" \
      "http://127.0.0.1:$first_port/api/status"; then
      ready=1
      break
    fi
    kill -0 "$first_pid" 2>/dev/null || break
    sleep 0.5
  done
  if [ -z "$ready" ]; then
    echo "==> first run: scripts/lab did not bring JupyterLab up"
    exit 1
  fi
  first_ready_ms=$(($(now_ms) - t0))
  echo "==> first run: scripts/lab to JupyterLab ready in $first_ready_ms ms; Playwright"
  (
    cd "$here"
    PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 \
      K8S_UI_URL="http://127.0.0.1:$first_port" \
      K8S_UI_TOKEN="$first_token" \
      K8S_UI_TIMINGS="$first/results/timings.json" \
      K8S_UI_LAB_READY_MS="$first_ready_ms" \
      npx playwright test --config playwright.config.ts --project firstrun \
      --output "$first/results"
  ) || rc=$?
  stop_first_run
  echo "==> first run: done in $(($(now_ms) - t0)) ms (rc=$rc)"
fi

start=$(date +%s)
kueue=(--kueue)
if [ "${K8S_UI_KUEUE:-1}" = 0 ]; then
  kueue=(--no-kueue)
fi
echo "==> local cluster (${kueue[*]})"
eval "$(python -m jupyter_k8s.cli dev-cluster --state-dir "$state" --gpus 1 up --wait "${kueue[@]}")"
echo "==> cluster up after $(($(date +%s) - start)) s"

mkdir -p "$work/config" "$work/root" "$work/workspaces"
# gpu-queued: Kueue's sample LocalQueue `gpu` (ClusterQueue team-a, the node's one GPU);
# `nosuch` is a queue the profile allows but the namespace lacks (the dialog's 400).
cat >"$work/config/jupyter_server_config.json" <<'JSON'
{"JupyterK8s": {"profiles": [
  {"name": "small", "cpu_request": "100m", "memory_request": "128Mi", "default": true},
  {"name": "two-gpus", "gpus": 2, "cpu_request": "100m"},
  {"name": "gpu-queued", "display_name": "1 GPU (queued)", "gpus": 1,
   "cpu_request": "100m", "memory_request": "128Mi",
   "queue": "gpu", "queues": ["nosuch"],
   "priority_class": "low", "priority_classes": ["high"]}
]}}
JSON
quiet_settings "$work/settings"

port="$(free_port)"
token="$(new_token)"
echo "==> JupyterLab on 127.0.0.1:$port"
JUPYTER_CONFIG_DIR="$work/config" \
  JUPYTERLAB_SETTINGS_DIR="$work/settings" \
  JUPYTERLAB_WORKSPACES_DIR="$work/workspaces" \
  jupyter lab --allow-root --no-browser --ip 127.0.0.1 --port "$port" \
  --ServerApp.token="$token" --ServerApp.root_dir="$work/root" \
  --JupyterK8s.kernel_start_timeout=20 \
  >"$work/lab.log" 2>&1 &
lab_pid=$!
for _ in $(seq 1 120); do
  if curl -fs -o /dev/null -H "Authorization: token $token" "http://127.0.0.1:$port/api/status"; then
    break
  fi
  sleep 0.5
done
echo "==> ready after $(($(date +%s) - start)) s; Playwright"

cd "$here"
PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 \
  K8S_UI_URL="http://127.0.0.1:$port" \
  K8S_UI_TOKEN="$token" \
  K8S_UI_KUEUE="${K8S_UI_KUEUE:-1}" \
  npx playwright test --config playwright.config.ts --project=main "$@" || rc=$?
echo "==> done in $(($(date +%s) - start)) s"
exit "$rc"
