#!/usr/bin/env bash
# Browser tests of the JupyterLab extension against a real JupyterLab on the local cluster.
#
#   labextension/ui-tests/run.sh [playwright test args...]
#
# Starts the local cluster (its own state dir) and JupyterLab with small test profiles,
# runs Playwright in Debian's Chromium (/usr/bin/chromium; no browser download), and
# stops everything on exit. Needs: the venv at .venv with jupyter-k8s installed (and the
# labextension built), `jlpm install` done in labextension/, chromium installed.
# Screenshots land in docs/images/; timings in ui-tests/test-results/timings.json.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
# shellcheck disable=SC1091
. "$root/.venv/bin/activate"

work="$(mktemp -d "${TMPDIR:-/tmp}/jupyter-k8s-ui.XXXXXX")"
state="$work/cluster"
lab_pid=""
cleanup() {
  status=$?
  if [ -n "$lab_pid" ]; then
    # SIGTERM, then SIGKILL if JupyterLab has not exited within 15 s.
    kill "$lab_pid" 2>/dev/null || true
    for _ in $(seq 1 30); do
      kill -0 "$lab_pid" 2>/dev/null || break
      sleep 0.5
    done
    if kill -0 "$lab_pid" 2>/dev/null; then
      echo "==> JupyterLab did not stop on SIGTERM within 15 s: killing it"
      kill -9 "$lab_pid" 2>/dev/null || true
    fi
    wait "$lab_pid" 2>/dev/null || true
  fi
  python -m jupyter_k8s.cli dev-cluster --state-dir "$state" down >/dev/null 2>&1 || true
  if [ "$status" -ne 0 ] && [ -f "$work/lab.log" ]; then
    echo "==> JupyterLab log (last 40 lines):"
    tail -n 40 "$work/lab.log"
  fi
  rm -rf "$work"
  exit "$status"
}
trap cleanup EXIT INT TERM

start=$(date +%s)
echo "==> local cluster"
eval "$(python -m jupyter_k8s.cli dev-cluster --state-dir "$state" up --wait)"

mkdir -p "$work/config" "$work/root" "$work/settings/@jupyterlab/apputils-extension" "$work/workspaces"
cat >"$work/config/jupyter_server_config.json" <<'JSON'
{"JupyterK8s": {"profiles": [
  {"name": "small", "cpu_request": "100m", "memory_request": "128Mi", "default": true},
  {"name": "two-gpus", "gpus": 2, "cpu_request": "100m"}
]}}
JSON
# No "Jupyter news?" toast over the screenshots.
echo '{"fetchNews": "false", "checkForUpdates": false}' \
  >"$work/settings/@jupyterlab/apputils-extension/notification.jupyterlab-settings"

port="$(python -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
token="ui-$(python -c 'import secrets; print(secrets.token_hex(8))')"
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
rc=0
PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 \
  K8S_UI_URL="http://127.0.0.1:$port" \
  K8S_UI_TOKEN="$token" \
  npx playwright test --config playwright.config.ts "$@" || rc=$?
echo "==> done in $(($(date +%s) - start)) s"
exit "$rc"
