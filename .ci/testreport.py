#!/usr/bin/env python3
"""Reads `go test -json` on stdin, prints the usual go test output, and
fails when a test was skipped that .ci/skip-allow does not list, or when
anything failed. Ends with the plain closing line "N passed, N failed,
N skipped"."""
import json
import re
import sys

allow = []
with open(sys.argv[1]) as f:
    for line in f:
        line = line.strip()
        if line and not line.startswith("#"):
            pkg, pat = line.split(None, 1)
            allow.append((pkg, re.compile(pat)))

passed = failed = 0
skipped, unexpected, failures = [], [], []
for raw in sys.stdin:
    try:
        ev = json.loads(raw)
    except ValueError:
        sys.stdout.write(raw)  # build errors and the like
        continue
    out = ev.get("Output")
    if out:
        sys.stdout.write(out)
    test, action, pkg = ev.get("Test"), ev.get("Action"), ev.get("Package", "")
    if action == "fail" and not test:
        failures.append(pkg)
    if not test:
        continue
    if action == "pass":
        passed += 1
    elif action == "fail":
        failed += 1
    elif action == "skip":
        skipped.append((pkg, test))
        top = test.split("/")[0]
        if not any(p == pkg and rx.search(top) for p, rx in allow):
            unexpected.append((pkg, test))
    sys.stdout.flush()

for pkg, test in unexpected:
    print(f"UNEXPECTED SKIP: {pkg} {test} (not in .ci/skip-allow)")
print(f"{passed} passed, {failed} failed, {len(skipped)} skipped")
sys.exit(1 if failed or failures or unexpected else 0)
