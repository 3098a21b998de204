#!/usr/bin/env python3
"""Memory per HTTPRoute in the demo's control plane (not part of `cargo test`).

Starts `rampdeck demo-target`, reads its resident memory from /metrics, creates N
HTTPRoutes (shaped like route-scale's: a PathPrefix rule to a backend and a catch-all to a
missing one) through its Kubernetes API, waits until the controller has written every
route's status, reads the memory again, and prints (after - before) / N. The first N/5 routes
are created before the first reading: they fill the watch history and the broadcast ring
(1,024 events each, bounded), which are not a per-route cost.

    tests/bench/route_memory.py            # N = 5000, release build
    N=2000 BIN=target/debug/rampdeck tests/bench/route_memory.py
"""
import json, os, subprocess, sys, time, urllib.request

BIN = os.environ.get("BIN", "target/release/rampdeck")
N = int(os.environ.get("N", "5000"))
NS = "rampdeck"


def metric(control, name):
    text = urllib.request.urlopen(f"http://{control}/metrics").read().decode()
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    raise SystemExit(f"no {name} in /metrics")


def rss(control):
    return metric(control, "process_resident_memory_bytes")


def route(i):
    return {
        "apiVersion": "gateway.networking.k8s.io/v1",
        "kind": "HTTPRoute",
        "metadata": {"name": f"mem-{i}", "namespace": NS, "labels": {"rampdeck.dev/scenario": "mem"}},
        "spec": {
            "parentRefs": [{"name": "rampdeck", "namespace": NS}],
            "hostnames": [f"{i}-route.example.com"],
            "rules": [
                {"matches": [{"path": {"type": "PathPrefix", "value": f"/{i}"}}],
                 "backendRefs": [{"name": "echo-v1", "port": 8080}]},
                {"backendRefs": [{"name": "rampdeck-missing", "port": 8080}]},
            ],
        },
    }


def main():
    if not os.access(BIN, os.X_OK):
        raise SystemExit(f"build first: cargo build --release (or set BIN), no {BIN}")
    cfg = json.dumps({"routes": [{"prefix": "/", "latency": "None", "error_rate": 0.0,
                                  "error_status": 503, "stall": None, "body_bytes": 16}]})
    p = subprocess.Popen([BIN, "demo-target", "--config-json", cfg],
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        control = json.loads(p.stdout.readline())["control"]
        url = f"http://{control}/apis/gateway.networking.k8s.io/v1/namespaces/{NS}/httproutes"
        first = N // 5

        def create(lo, hi):
            for i in range(lo, hi + 1):
                req = urllib.request.Request(url, data=json.dumps(route(i)).encode(),
                                             headers={"Content-Type": "application/json"}, method="POST")
                urllib.request.urlopen(req).read()
            # Until the controller has written every route's status (read from /metrics: a
            # listing would parse every route and inflate the memory it measures).
            deadline = time.time() + 300
            writes = 'demo_reconcile_status_writes_total{kind="HTTPRoute"}'
            while time.time() < deadline and metric(control, writes) < hi:
                time.sleep(0.5)
            time.sleep(2)
            return rss(control)

        before = create(1, first)
        after = create(first + 1, N)
        per = (after - before) / (N - first)
        print(f"routes {first} -> {N}  rss {before / 2**20:.1f} -> {after / 2**20:.1f} MiB  "
              f"per route {per / 1024:.2f} KiB")
    finally:
        p.stdin.close()
        p.wait(timeout=10)


if __name__ == "__main__":
    main()
