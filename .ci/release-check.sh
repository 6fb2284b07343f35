#!/usr/bin/env bash
# Build the wheel and sdist, install the wheel into a fresh venv, and check that
# the installed `smartseg` lints the demo rules and serves the demo's home page.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=.venv/bin/python
work=$(mktemp -d)
trap 'kill "${demo_pid:-}" 2>/dev/null || true; rm -rf "$work"' EXIT

$PY -m build --wheel --sdist --outdir "$work/dist" . >"$work/build.log" 2>&1 || { cat "$work/build.log"; exit 1; }
ls -l "$work/dist"
python3 -m venv "$work/venv"
"$work/venv/bin/python" -m pip install -q "$work"/dist/*.whl
# the grammar must come from the wheel, not from this checkout
(cd "$work" && "$work/venv/bin/smartseg" check "$OLDPWD/rules/")
# the demo site ships as smartseg_dsl.demo_site: nothing generic at the top of site-packages
(cd "$work" && "$work/venv/bin/python" - <<'PY'
import importlib.util, pathlib, sysconfig
top = sorted(p.name for p in pathlib.Path(sysconfig.get_paths()["purelib"]).iterdir()
             if "smartseg" in p.name or p.name == "site_example")
assert importlib.util.find_spec("site_example") is None, "the wheel installed a top-level site_example"
assert importlib.util.find_spec("smartseg_dsl.demo_site.app") is not None, "no smartseg_dsl.demo_site"
print("installed wheel: top-level entries", top)
PY
)

port=$($PY -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
(cd "$work" && exec "$work/venv/bin/smartseg" demo --port "$port" --no-crm --db "$work/demo.db" >"$work/demo.log" 2>&1) &
demo_pid=$!
for _ in $(seq 1 50); do
  if $PY -c 'import sys, urllib.request; open(sys.argv[2], "wb").write(urllib.request.urlopen(sys.argv[1], timeout=2).read())' \
       "http://127.0.0.1:$port/" "$work/home.html" 2>/dev/null; then break; fi
  sleep 0.2
done
if ! grep -q 'data-seg-slot' "$work/home.html" 2>/dev/null; then
  echo "the installed demo did not serve its home page:"; cat "$work/demo.log"; exit 1
fi
echo "installed wheel: smartseg check rules/ passed and the demo served $(wc -c <"$work/home.html") bytes"

# Measurement from the installed wheel: the demo records a session and the `Pricing`
# goal, a graceful shutdown (SIGTERM) writes the queue, and the report reads it back.
$PY -c 'import sys, urllib.request; urllib.request.urlopen(sys.argv[1], timeout=5).read()' \
    "http://127.0.0.1:$port/pricing"
kill -TERM "$demo_pid"; wait "$demo_pid" 2>/dev/null || true; demo_pid=""
(cd "$work" && "$work/venv/bin/smartseg" events export --db "$work/demo.db") >"$work/events.jsonl"
grep -q '"goal":"Pricing"' "$work/events.jsonl" \
  || { echo "no Pricing goal event after a graceful shutdown:"; cat "$work/events.jsonl" "$work/demo.log"; exit 1; }
(cd "$work" && "$work/venv/bin/smartseg" report "$OLDPWD/rules/" --db "$work/demo.db" \
    --format html -o "$work/report.html")
grep -q '<svg' "$work/report.html" || { echo "the installed report has no chart"; exit 1; }
echo "installed wheel: $(wc -l <"$work/events.jsonl") measurement events exported, report $(wc -c <"$work/report.html") bytes"
