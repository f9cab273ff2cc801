#!/usr/bin/env python3
"""Compares two signal JSON outputs field by field.

Usage: signal_compare.py A.json B.json [REL_TOL]
Pairs are matched by (product, event). A field agrees when both are null, or
|a - b| <= REL_TOL * max(|a|, |b|), or |a - b| <= 1e-12 (values at zero).
Exits 1 on any disagreement.
"""
import json
import sys

FIELDS = ["n", "e", "prr", "prr_lo", "prr_hi", "ror", "ror_lo", "ror_hi", "chi2_yates", "ic", "ic025", "ebgm", "eb05", "eb95"]


def rel(a, b):
    if a is None or b is None:
        return 0.0 if a is None and b is None else float("inf")
    d = abs(a - b)
    if d <= 1e-12:
        return 0.0
    return d / max(abs(a), abs(b))


def main():
    a = json.load(open(sys.argv[1], encoding="utf-8"))
    b = json.load(open(sys.argv[2], encoding="utf-8"))
    tol = float(sys.argv[3]) if len(sys.argv) > 3 else 1e-6
    worst = {f: 0.0 for f in FIELDS}
    for k in ["alpha1", "beta1", "alpha2", "beta2", "p"]:
        worst["hyper." + k] = rel(a["hyperparameters"][k], b["hyperparameters"][k])
    bp = {(p["product"], p["event"]): p for p in b["pairs"]}
    missing = 0
    for p in a["pairs"]:
        q = bp.get((p["product"], p["event"]))
        if q is None:
            missing += 1
            continue
        for f in FIELDS:
            r = rel(p[f], q[f])
            if r > worst.get(f, 0.0):
                worst[f] = r
    bad = [k for k, v in worst.items() if v > tol]
    print(f"pairs {len(a['pairs'])} vs {len(b['pairs'])}, unmatched {missing}")
    for k, v in worst.items():
        print(f"  {k:14s} max relative difference {v:.3e}")
    if bad or missing or len(a["pairs"]) != len(b["pairs"]):
        print(f"DISAGREE beyond {tol}: {bad}")
        sys.exit(1)
    print(f"agree to {tol} relative")


if __name__ == "__main__":
    main()
