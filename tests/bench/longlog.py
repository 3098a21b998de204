#!/usr/bin/env python3
"""Writes a synthetic long run log for tests/bench/reports.sh: a short real run's intervals repeated to N."""
import json, sys, os
src, dst, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
lines = [json.loads(l) for l in open(os.path.join(src, "run.jsonl"))]
header = lines[0]
ivs = [l for l in lines if l["type"] == "interval" and not l["warmup"]]
summary = [l for l in lines if l["type"] == "summary"]
os.makedirs(dst, exist_ok=True)
with open(os.path.join(dst, "run.jsonl"), "w") as f:
    f.write(json.dumps(header) + "\n")
    for k in range(n):
        iv = dict(ivs[k % len(ivs)])
        iv["index"] = k
        iv["elapsed_s"] = (k + 1) * 0.25
        iv["run_clock_s"] = (k + 1) * 0.25
        f.write(json.dumps(iv) + "\n")
    if summary and "--no-summary" not in sys.argv:
        f.write(json.dumps(summary[0]) + "\n")
