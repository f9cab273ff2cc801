#!/usr/bin/env python3
"""Vectorised NumPy/SciPy implementation of CellTrail's signal detection.

The same method as crates/stats (celltrail-stats): report-level counts with
stratified expected counts, PRR/ROR with 95% intervals, Yates chi-squared,
BCPNN IC and IC025, and MGPS with the two-gamma prior fitted by maximum
likelihood on the pairs with N >= N* (truncated at N* = 1), from the same
five starting points, with the same damped Newton iterations on
(ln a1, ln b1, ln a2, ln b2, logit P) using the analytic Hessian, the same
subsample warm start on large data, and the same posterior summaries.

Usage: signal_peer.py INPUT.csv [--unstratified] > OUTPUT.json
Phase timings go to stderr. Writes the JSON shape of `celltrail signal --json`.
"""
import csv
import io
import json
import math
import sys
import time

import numpy as np
from scipy import special as sp

STARTS = [
    (0.2, 0.1, 2.0, 4.0, 1.0 / 3.0),
    (0.1, 0.1, 10.0, 10.0, 0.2),
    (0.3, 0.5, 6.0, 6.0, 0.5),
    (0.5, 0.3, 12.0, 12.0, 0.8),
    (0.2, 0.2, 5.0, 5.0, 0.4),
]
TOL = (0.05, 0.05, 0.2, 0.2, 0.025)
PARAM_LIMIT = 100.0
WARM_START_ENTRIES = 200_000
SUM_LIMIT = 1000
Z975 = float(sp.ndtri(0.975))


def read_rows(path):
    """Reads report_id,product,event[,stratum] and factorises the columns."""
    with open(path, "rb") as f:
        raw = f.read()
    text = raw.decode("utf-8")
    if text.startswith("\ufeff"):
        text = text[1:]
    if '"' in text:
        records = [r for r in csv.reader(io.StringIO(text)) if r]
    else:
        records = [line.split(",") for line in text.splitlines() if line]
    head = [c.strip().lower() for c in records[0]]
    if head[:3] == ["report_id", "product", "event"]:
        records = records[1:]
    cols = list(zip(*records))
    out = []
    for c in cols:
        index = {}
        codes = np.fromiter((index.setdefault(v.strip(), len(index)) for v in c), dtype=np.int64, count=len(c))
        names = [None] * len(index)
        for k, v in index.items():
            names[v] = k
        out.append((codes, names))
    return out


def count(cols, stratified):
    (r, _), (p, pnames), (e, enames) = cols[:3]
    n_p, n_e = len(pnames), len(enames)
    n_r = int(r.max()) + 1
    if stratified and len(cols) == 4:
        s_rows = cols[3][0]
        rep_stratum = np.zeros(n_r, dtype=np.int64)
        rep_stratum[r] = s_rows  # one stratum per report
        n_s = len(cols[3][1])
    else:
        rep_stratum = np.zeros(n_r, dtype=np.int64)
        n_s = 1
    triple = np.unique((r * n_p + p) * n_e + e)
    tr = triple // (n_p * n_e)
    tpe = triple % (n_p * n_e)
    tp, te = tpe // n_e, tpe % n_e
    pair_keys, n = np.unique(tpe, return_counts=True)
    rp = np.unique(tr * n_p + tp)
    rp_r, rp_p = rp // n_p, rp % n_p
    re_ = np.unique(tr * n_e + te)
    re_r, re_e = re_ // n_e, re_ % n_e
    pm = np.bincount(rp_p, minlength=n_p)
    em = np.bincount(re_e, minlength=n_e)
    reports = np.unique(tr)
    N = len(reports)
    pp, pe = pair_keys // n_e, pair_keys % n_e
    if n_s > 1:
        spm = np.bincount(rep_stratum[rp_r] * n_p + rp_p, minlength=n_s * n_p).reshape(n_s, n_p)
        sem = np.bincount(rep_stratum[re_r] * n_e + re_e, minlength=n_s * n_e).reshape(n_s, n_e)
        stot = np.bincount(rep_stratum[reports], minlength=n_s)
        E = np.zeros(len(pair_keys))
        for s in range(n_s):
            if stot[s] == 0:
                continue
            a = spm[s, pp].astype(np.float64)
            b = sem[s, pe].astype(np.float64)
            E += np.where((a != 0) & (b != 0), a * b / stot[s], 0.0)
    else:
        E = pm[pp].astype(np.float64) * em[pe].astype(np.float64) / N
    return dict(pp=pp, pe=pe, n=n.astype(np.int64), E=E, npm=pm[pp], nem=em[pe], N=N,
                pnames=pnames, enames=enames, n_strata=n_s)


# ---- MGPS -----------------------------------------------------------------

class Data:
    def __init__(self, n, E, w):
        self.n = n.astype(np.int64)
        self.E = E
        self.w = w
        self.konst = n * np.log(E) - sp.gammaln(n + 1.0)
        self.nv, self.ni = np.unique(self.n, return_inverse=True)
        self.W = float(w.sum())


def group(n, E, n_star=1):
    keep = n >= n_star
    n, E = n[keep], E[keep]
    order = np.lexsort((E, n))
    n, E = n[order], E[order]
    new = np.ones(len(n), dtype=bool)
    new[1:] = (n[1:] != n[:-1]) | (E[1:] != E[:-1])
    starts = np.flatnonzero(new)
    w = np.diff(np.append(starts, len(n))).astype(np.float64)
    return Data(n[starts], E[starts], w)


def subsample(d, k):
    idx = np.arange(0, len(d.n), k)
    return Data(d.n[idx], d.E[idx], d.w[idx] * k)


def shape_tables(a, nv, need_tri=True):
    small = nv <= SUM_LIMIT
    kmax = int(nv[small].max()) if small.any() else 0
    v = a + np.arange(kmax, dtype=np.float64)
    c0 = np.concatenate(([0.0], np.cumsum(np.log(v))))
    c1 = np.concatenate(([0.0], np.cumsum(1.0 / v)))
    c2 = np.concatenate(([0.0], np.cumsum(-1.0 / (v * v))))
    nn = np.where(small, nv, 0)
    g, d, t = c0[nn], c1[nn], c2[nn]
    big = ~small
    if big.any():
        x = a + nv[big]
        g[big] = sp.gammaln(x) - sp.gammaln(a)
        d[big] = sp.digamma(x) - sp.digamma(a)
        t[big] = sp.polygamma(1, x) - sp.polygamma(1, a)
    return g, d, t


def from_x(x):
    return (math.exp(x[0]), math.exp(x[1]), math.exp(x[2]), math.exp(x[3]), 1.0 / (1.0 + math.exp(-x[4])))


def to_x(t):
    return np.array([math.log(t[0]), math.log(t[1]), math.log(t[2]), math.log(t[3]), math.log(t[4] / (1 - t[4]))])


def evaluate(d, th, order):
    """Negative log-likelihood (order 0), with gradient (1) and Hessian (2),
    in the transformed parameters."""
    a1, b1, a2, b2, P = th
    n = d.n.astype(np.float64)
    E = d.E
    comps = []
    for a, b in ((a1, b1), (a2, b2)):
        g, dn, tn = shape_tables(a, d.nv)
        g, dn, tn = g[d.ni], dn[d.ni], tn[d.ni]
        bpe = b + E
        lb = np.log(bpe)
        ll = math.log(b) - lb
        al = a * ll
        omz = -np.expm1(al)
        l = g + a * math.log(b) - (a + n) * lb + d.konst - np.log(omz)
        if order == 0:
            comps.append((l,))
            continue
        z = 1.0 - omz
        h1 = z / omz
        lb_ = E / (b * bpe)
        la = dn + ll / omz
        lbv = a / b - (a + n) / bpe + h1 * a * lb_
        gu = (a * la, b * lbv)
        if order == 1:
            comps.append((l, gu))
            continue
        h2 = h1 / omz
        lbb = -1.0 / (b * b) + 1.0 / (bpe * bpe)
        laa = tn + h2 * ll * ll
        lab = lb_ / omz + h2 * a * ll * lb_
        lbbv = -a / (b * b) + (a + n) / (bpe * bpe) + h2 * a * a * lb_ * lb_ + h1 * a * lbb
        hu = (a * la + a * a * laa, a * b * lab, b * lbv + b * b * lbbv)
        comps.append((l, gu, hu))
    x1 = math.log(P) + comps[0][0]
    x2 = math.log1p(-P) + comps[1][0]
    m = np.maximum(x1, x2)
    mn = np.minimum(x1, x2)
    r = np.exp(mn - m)
    w = d.w
    f = -float(np.sum(w * (m + np.log1p(r))))
    if order == 0:
        return f, None, None
    p1 = np.where(x1 >= x2, 1.0 / (1.0 + r), r / (1.0 + r))
    p2 = 1.0 - p1
    g1, g2 = comps[0][1], comps[1][1]
    grad = np.array([
        -np.sum(w * p1 * g1[0]), -np.sum(w * p1 * g1[1]),
        -np.sum(w * p2 * g2[0]), -np.sum(w * p2 * g2[1]),
        -np.sum(w * (p1 - P)),
    ])
    if order == 1:
        return f, grad, None
    pp = p1 * p2
    H = np.zeros((5, 5))
    for j, (pj, gj, hj) in enumerate(((p1, g1, comps[0][2]), (p2, g2, comps[1][2]))):
        hm = ((hj[0], hj[1]), (hj[1], hj[2]))
        for r0 in range(2):
            for c0 in range(2):
                H[2 * j + r0, 2 * j + c0] = -np.sum(w * (pj * hm[r0][c0] + pp * gj[r0] * gj[c0]))
    for r0 in range(2):
        for c0 in range(2):
            v = np.sum(w * pp * g1[r0] * g2[c0])
            H[r0, 2 + c0] += v
            H[2 + c0, r0] += v
        v1 = np.sum(w * pp * g1[r0])
        H[4, r0] -= v1
        H[r0, 4] -= v1
        v2 = np.sum(w * pp * g2[r0])
        H[4, 2 + r0] += v2
        H[2 + r0, 4] += v2
    H[4, 4] = -np.sum(w * (pp - P * (1 - P)))
    return f, grad, H


def valid(th):
    return all(v > 0 and math.isfinite(v) for v in th[:4]) and 0 < th[4] < 1


def value_at(d, x):
    if not np.all(np.isfinite(x)) or np.any(np.abs(x) > 40):
        return math.inf
    th = from_x(x)
    if not valid(th):
        return math.inf
    f = evaluate(d, th, 0)[0] / d.W
    return f if math.isfinite(f) else math.inf


def grad_norm_at(d, x):
    th = from_x(x)
    if not valid(th):
        return math.inf
    f, g, _ = evaluate(d, th, 1)
    v = float(np.max(np.abs(g))) / d.W
    return v if math.isfinite(f) and math.isfinite(v) else math.inf


def newton(d, x0, gtol, max_iter=1000):
    scale = 1.0 / d.W
    x = np.array(x0, dtype=np.float64)
    it = 0
    evals = 0
    last = (math.inf, math.inf)
    while it < max_iter:
        if not np.all(np.isfinite(x)) or np.any(np.abs(x) > 40):
            break
        f, g, H = evaluate(d, from_x(x), 2)
        evals += 1
        f, g, H = f * scale, g * scale, H * scale
        last = (f, float(np.max(np.abs(g))))
        if not (math.isfinite(f) and np.all(np.isfinite(g)) and np.all(np.isfinite(H))):
            last = (math.inf, math.inf)
            break
        if last[1] < gtol:
            break
        it += 1
        diag = max(float(np.max(np.abs(np.diag(H)))), 1e-300)
        mu = 0.0
        step = None
        for _ in range(60):
            try:
                L = np.linalg.cholesky(H + mu * np.eye(5))
                y = np.linalg.solve(L, -g)
                step = np.linalg.solve(L.T, y)
                break
            except np.linalg.LinAlgError:
                mu = 1e-10 * diag if mu == 0.0 else mu * 10.0
        if step is None:
            break
        big = float(np.max(np.abs(step)))
        if big > 4.0:
            step = step * (4.0 / big)
        slope = float(g @ step)
        if not slope < 0:
            break
        t = 1.0
        moved = False
        for _ in range(50):
            xt = x + t * step
            ft = value_at(d, xt)
            evals += 1
            if ft <= f + 1e-4 * t * slope:
                x, moved = xt, True
                break
            if t == 1.0 and abs(ft - f) <= 1e-12 * abs(f):
                gt = grad_norm_at(d, xt)
                evals += 1
                if gt < last[1]:
                    x, moved = xt, True
                    break
            t *= 0.5
        if not moved or t * float(np.max(np.abs(step))) < 1e-13:
            break
    th = from_x(x)
    if valid(th):
        f, g, _ = evaluate(d, th, 1)
        evals += 1
        fv, gn = f * scale, float(np.max(np.abs(g))) * scale
    else:
        fv, gn = last
    if not math.isfinite(fv):
        fv, gn = last
    return dict(x=x, f=fv, gn=gn, it=it, evals=evals)


def fit(d):
    k = -(-len(d.n) // 100_000) if len(d.n) > WARM_START_ENTRIES else 1
    sub = subsample(d, k) if k > 1 else None
    polished = []
    results = []
    for st in STARTS:
        x0 = newton(sub, to_x(st), 1e-9)["x"] if sub is not None else to_x(st)
        run = None
        for w0, r in polished:
            if np.all(np.abs(w0 - x0) <= 1e-9 * np.maximum(np.abs(w0), 1.0)):
                run = r
                break
        if run is None:
            run = newton(d, x0, 1e-12)
            polished.append((x0, run))
        th = from_x(run["x"])
        conv = math.isfinite(run["f"]) and run["gn"] < 1e-8
        inb = valid(th) and all(v < PARAM_LIMIT for v in th[:4]) and 1e-12 < th[4] < 1 - 1e-12
        results.append(dict(theta=th, nll=run["f"] * d.W, conv=conv, inb=inb))
    good = [i for i, r in enumerate(results) if r["conv"] and r["inb"] and math.isfinite(r["nll"])]
    pool = good or [i for i, r in enumerate(results) if math.isfinite(r["nll"])]
    best = min(pool, key=lambda i: results[i]["nll"])
    chosen = results[best]["theta"]
    close = sum(1 for i, r in enumerate(results) if i != best and all(abs(r["theta"][j] - chosen[j]) < TOL[j] for j in range(5)))
    return chosen, results[best]["nll"], close


def mixture_quantile(prob, w, a1, r1, a2, r2):
    """Quantile of w Gamma(a1, rate r1) + (1 - w) Gamma(a2, rate r2), vectorised:
    bracketed by the component quantiles, Newton with bisection fallback."""
    upper = prob > 0.5
    x1 = sp.gammaincinv(a1, prob) / r1
    x2 = sp.gammaincinv(a2, prob) / r2
    lo, hi = np.minimum(x1, x2), np.maximum(x1, x2)
    x = w * x1 + (1 - w) * x2
    done = ~(hi > lo)
    x = np.where(done, lo, x)
    la1, la2 = sp.gammaln(a1), sp.gammaln(a2)
    for _ in range(200):
        act = ~done
        if not act.any():
            break
        xa = x[act]
        wa = w[act]
        y1, y2 = r1[act] * xa, r2[act] * xa
        if upper:
            err = (1 - prob) - (wa * sp.gammaincc(a1[act], y1) + (1 - wa) * sp.gammaincc(a2[act], y2))
        else:
            err = (wa * sp.gammainc(a1[act], y1) + (1 - wa) * sp.gammainc(a2[act], y2)) - prob
        dens = (wa * r1[act] * np.exp(a1[act] * np.log(y1) - y1 - la1[act]) / y1
                + (1 - wa) * r2[act] * np.exp(a2[act] * np.log(y2) - y2 - la2[act]) / y2)
        loa, hia = lo[act], hi[act]
        hia = np.where(err > 0, xa, hia)
        loa = np.where(err < 0, xa, loa)
        with np.errstate(divide="ignore", invalid="ignore"):
            nxt = xa - err / dens
        bad = ~((nxt > loa) & (nxt < hia))
        nxt = np.where(bad, 0.5 * (loa + hia), nxt)
        fin = (err == 0) | (np.abs(nxt - xa) <= 1e-14 * np.abs(xa)) | (hia - loa <= 1e-15 * hia)
        nxt = np.where(err == 0, xa, nxt)
        x[act], lo[act], hi[act] = nxt, loa, hia
        idx = np.flatnonzero(act)
        done[idx[fin]] = True
    return x


def posterior(th, n, E):
    a1, b1, a2, b2, P = th
    n = n.astype(np.float64)
    A1, B1, A2, B2 = a1 + n, b1 + E, a2 + n, b2 + E
    l1 = math.log(P) + sp.gammaln(A1) - sp.gammaln(a1) + a1 * math.log(b1) - A1 * np.log(B1)
    l2 = math.log1p(-P) + sp.gammaln(A2) - sp.gammaln(a2) + a2 * math.log(b2) - A2 * np.log(B2)
    qn = 1.0 / (1.0 + np.exp(l2 - l1))
    elog = qn * (sp.digamma(A1) - np.log(B1)) + (1 - qn) * (sp.digamma(A2) - np.log(B2))
    return np.exp(elog), mixture_quantile(0.05, qn, A1, B1, A2, B2), mixture_quantile(0.95, qn, A1, B1, A2, B2)


def main():
    path = sys.argv[1]
    stratified = "--unstratified" not in sys.argv[2:]
    t0 = time.perf_counter()
    cols = read_rows(path)
    t1 = time.perf_counter()
    c = count(cols, stratified)
    t2 = time.perf_counter()
    d = group(c["n"], c["E"], 1)
    th, nll, close = fit(d)
    t3 = time.perf_counter()
    n, E = c["n"], c["E"]
    # Posteriors once per distinct (n, E).
    keys = np.rec.fromarrays([n, E])
    uniq, inv = np.unique(keys, return_inverse=True)
    ebgm_u, eb05_u, eb95_u = posterior(th, uniq.f0, uniq.f1)
    ebgm, eb05, eb95 = ebgm_u[inv], eb05_u[inv], eb95_u[inv]
    a = n.astype(np.float64)
    b = c["npm"] - a
    cc = c["nem"] - a
    dd = c["N"] - c["npm"] - c["nem"] + a
    with np.errstate(divide="ignore", invalid="ignore"):
        n1, n0 = a + b, cc + dd
        prr = (a / n1) / (cc / n0)
        prr_ok = (a > 0) & (n1 > 0) & (n0 > 0) & (cc > 0)
        prr_se = np.sqrt(np.maximum(1 / a - 1 / n1 + 1 / cc - 1 / n0, 0))
        prr_lo = np.where(prr_ok, np.exp(np.log(prr) - Z975 * prr_se), np.nan)
        prr_hi = np.where(prr_ok, np.exp(np.log(prr) + Z975 * prr_se), np.nan)
        prr = np.where((n1 > 0) & (n0 > 0) & (cc > 0), prr, np.nan)
        ror = a * dd / (b * cc)
        ror_ok = (a > 0) & (b > 0) & (cc > 0) & (dd > 0)
        ror_se = np.sqrt(1 / a + 1 / b + 1 / cc + 1 / dd)
        ror_lo = np.where(ror_ok, np.exp(np.log(ror) - Z975 * ror_se), np.nan)
        ror_hi = np.where(ror_ok, np.exp(np.log(ror) + Z975 * ror_se), np.nan)
        ror = np.where((b > 0) & (cc > 0), ror, np.nan)
        tot = a + b + cc + dd
        den = n1 * n0 * (a + cc) * (b + dd)
        diff = np.maximum(np.abs(a * dd - b * cc) - 0.5 * tot, 0)
        chi2 = np.where(den > 0, tot * (diff / n1) * (diff / n0) / ((a + cc) * (b + dd)), np.nan)
        ic = np.log2((a + 0.5) / (E + 0.5))
        ic025 = np.log2(sp.gammaincinv(a + 0.5, 0.025) / (E + 0.5))
    t4 = time.perf_counter()
    pn, en = c["pnames"], c["enames"]
    order = sorted(range(len(n)), key=lambda i: (pn[c["pp"][i]].encode(), en[c["pe"][i]].encode()))

    def num(v):
        v = float(v)
        return v if math.isfinite(v) else None

    cols_out = [prr, prr_lo, prr_hi, ror, ror_lo, ror_hi, chi2, ic, ic025, ebgm, eb05, eb95]
    names = ["prr", "prr_lo", "prr_hi", "ror", "ror_lo", "ror_hi", "chi2_yates", "ic", "ic025", "ebgm", "eb05", "eb95"]
    lists = [col.tolist() for col in cols_out]
    nl, el = n.tolist(), E.tolist()
    pairs = []
    for i in order:
        rec = {"product": pn[c["pp"][i]], "event": en[c["pe"][i]], "n": nl[i], "e": el[i]}
        for nm, col in zip(names, lists):
            rec[nm] = num(col[i])
        pairs.append(rec)
    out = {"hyperparameters": dict(zip(["alpha1", "beta1", "alpha2", "beta2", "p"], th)), "pairs": pairs}
    sys.stdout.buffer.write(json.dumps(out, ensure_ascii=False, separators=(",", ":")).encode("utf-8"))
    sys.stdout.flush()
    t5 = time.perf_counter()
    print(f"peer: pairs {len(n)} entries {len(d.n)} negLL {nll!r} close {close}; read {t1 - t0:.2f}s count {t2 - t1:.2f}s "
          f"fit {t3 - t2:.2f}s stats {t4 - t3:.2f}s json {t5 - t4:.2f}s", file=sys.stderr)


if __name__ == "__main__":
    main()
