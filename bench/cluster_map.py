"""Time and peak memory of the map's computation (k-means, kNN density, mass, UMAP + placement) at a size, one child
process per size, and how well the kNN density agrees with the exact one.

    python bench/cluster_map.py [--sizes 10000 100000] [--dim 1024] [--data mixture|random] [--agreement 50000]
                                [--check-rows 2000] [--json]

Each child holds the features as the product's 1M path does (float32 up to neighbours.HALF_ROWS rows, float16 unit
rows past it), then runs clusters.cluster (k-means, kNN density, mass, the default rule) and gradient_map.fit_layout,
timing each stage; peak RSS is the child's ru_maxrss (data generation included). After the timed part, `--check-rows`
rows drawn at random get their exact kNN density against all n rows (brute force, chunked), and the Spearman of the
map's density with it is reported (`spearman_sample`): the agreement at the size itself.

`--agreement N` (default 50,000; 0 skips): a child draws N rows of the same data, stores them as the 1M path does
(float16 unit rows), and compares sparsity.knn_density (the approximate path past 20k rows) with the exact kNN density
(faiss IndexFlatIP, float32) over all N rows: Spearman, the mean absolute difference, and how many rows fall on the
same side of the median (what the density rule uses). `--old-ivf` also scores the IVF path it replaced.

Data (`--data`): `mixture` (default) is 50% rows around centres of mixed size and spread, 45% rows on a 32-dim
continuum (neighbours across any cell boundary) and 5% rows unlike anything; `random` is isotropic unit rows (no
structure: every density is about the same, so agreement there means little, and it is reported as such).
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
CHUNK = 50_000


def _rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _cpu_s() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def say(text: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {text}", file=sys.stderr, flush=True)


class Data:
    """Rows of a synthetic dataset, chunk by chunk (chunk s is seeded by s: any chunk can be drawn again alone)."""

    def __init__(self, kind: str, n: int, dim: int, seed: int = 0):
        self.kind, self.n, self.dim, self.seed = kind, n, dim, seed
        rng = np.random.default_rng(seed)
        self.n_cent = max(50, n // 400)
        self.cent = rng.standard_normal((self.n_cent, dim), dtype=np.float32)
        self.cent /= np.linalg.norm(self.cent, axis=1, keepdims=True)
        w = rng.lognormal(0, 1.0, self.n_cent)
        self.w = w / w.sum()
        self.spread = rng.uniform(0.3, 1.5, self.n_cent).astype(np.float32)
        self.scale = np.linspace(3, 0.5, 32, dtype=np.float32)
        self.basis = rng.standard_normal((32, dim), dtype=np.float32) / np.float32(np.sqrt(dim))

    def chunk(self, start: int) -> np.ndarray:
        r = np.random.default_rng([self.seed, start])
        m, d = min(CHUNK, self.n - start), self.dim
        noise = r.standard_normal((m, d), dtype=np.float32) / np.float32(np.sqrt(d))
        if self.kind == "random":
            x = noise
        else:
            kind = r.random(m)
            c = r.choice(self.n_cent, m, p=self.w)
            x = self.cent[c] + self.spread[c, None] * noise
            cont = (kind >= 0.5) & (kind < 0.95)
            z = r.standard_normal((int(cont.sum()), 32), dtype=np.float32) * self.scale
            x[cont] = z @ self.basis + 0.5 * noise[cont]
            bg = kind >= 0.95
            x[bg] = r.standard_normal((int(bg.sum()), d), dtype=np.float32)
        x /= np.linalg.norm(x, axis=1, keepdims=True)
        return x

    def chunks(self):
        for start in range(0, self.n, CHUNK):
            yield start, self.chunk(start)

    def rows(self, idx: np.ndarray) -> np.ndarray:
        """The rows at sorted indices idx (float32)."""
        return np.concatenate([c[idx[(idx >= s) & (idx < s + len(c))] - s] for s, c in self.chunks()])

    def held(self) -> np.ndarray:
        """All rows, held as the product's map holds them (float16 unit rows past neighbours.HALF_ROWS)."""
        from core.analysis.neighbours import HALF_ROWS, fill_half_rows

        if self.n > HALF_ROWS:
            return fill_half_rows((c for _, c in self.chunks()), self.n, self.dim)
        return np.concatenate([c for _, c in self.chunks()])


def exact_density_of(data: Data, idx: np.ndarray, k: int = 10) -> np.ndarray:
    """Exact mean cosine of rows idx to their k nearest other rows among all of data's rows (float32, brute force)."""
    Q = data.rows(idx)
    best = np.full((len(idx), k + 1), -np.inf, np.float32)
    for _, c in data.chunks():
        part = np.partition(Q @ c.T, -(k + 1), axis=1)[:, -(k + 1):]
        best = np.partition(np.concatenate([best, part], axis=1), -(k + 1), axis=1)[:, -(k + 1):]
    best.sort(axis=1)
    return best[:, :-1].mean(axis=1)  # the largest is the row itself


def child(n: int, dim: int, kind: str, check_rows: int) -> dict:
    import core.analysis.clusters as clusters_mod
    from core.analysis.clusters import ClusterConfig, cluster
    from core.analysis.gradient_map import MapConfig, fit_layout, warm_up_umap

    import core.analysis.neighbours as nb

    load_start = os.getloadavg()[0]
    warm = warm_up_umap()  # JIT cost is paid once per process; reported apart
    data = Data(kind, n, dim)
    t = time.perf_counter()
    X = data.held()
    hold_s = time.perf_counter() - t
    rss_data = _rss_mib()
    say(f"{n:,} rows held as {X.dtype} in {hold_s:.0f}s; peak RSS so far {rss_data:.0f} MiB")
    times: dict[str, float] = {}

    def timed(name, fn):
        def run(*a, **kw):
            start = time.perf_counter()
            try:
                return fn(*a, **kw)
            finally:
                times[name] = times.get(name, 0.0) + time.perf_counter() - start
        return run

    for name in ("spherical_kmeans", "knn_density", "gradient_mass"):
        setattr(clusters_mod, name, timed(name, getattr(clusters_mod, name)))
    marks: dict[str, float] = {}
    cpu = _cpu_s()
    start = time.perf_counter()
    c = cluster(X, ClusterConfig())
    cluster_s = time.perf_counter() - start
    say(f"clustered in {cluster_s:.0f}s: {', '.join(f'{k} {v:.0f}s' for k, v in times.items())}; kNN steps "
        f"{ {k: round(v) for k, v in nb.last_timings.items()} }; peak RSS {_rss_mib():.0f} MiB")
    knn_steps = {k: round(v, 1) for k, v in nb.last_timings.items()}
    t = time.perf_counter()
    xy, layout, fitted = fit_layout(X, MapConfig(), stage=lambda s, f: marks.setdefault(s.split()[0],
                                                                                       time.perf_counter()))
    layout_s = time.perf_counter() - t
    total = time.perf_counter() - start
    cpu = _cpu_s() - cpu
    peak = _rss_mib()
    say(f"laid out in {layout_s:.0f}s; {total:.0f}s in all ({cpu:.0f} CPU-s); peak RSS {peak:.0f} MiB")
    out = {"n": n, "dim": dim, "data": kind, "storage": str(X.dtype), "k": c.k, "seconds": round(total, 1),
           "kmeans_s": round(times["spherical_kmeans"], 1), "knn_density_s": round(times["knn_density"], 1),
           "mass_s": round(times["gradient_mass"], 1), "cluster_s": round(cluster_s, 1),
           "layout_s": round(layout_s, 1), "umap_fit_s": round(marks.get("placing", time.perf_counter())
                                                               - marks.get("fitting", t), 1),
           "place_s": round(time.perf_counter() - marks["placing"], 1) if "placing" in marks else 0.0,
           "cpu_s": round(cpu, 1), "knn_steps_s": knn_steps, "load_avg_1m": [round(load_start, 2),
                                                                              round(os.getloadavg()[0], 2)],
           "umap_jit_warmup_s": round(warm, 1), "hold_data_s": round(hold_s, 1),
           "data_mib": round(X.nbytes / 2**20), "rss_after_data_mib": round(rss_data),
           "peak_rss_mib": round(peak), "peak_rss_gb": round(peak / 1024, 2)}
    if check_rows and fitted < n:  # placement: the rows placed through the inverted file, against exact search
        cfg = MapConfig()
        fit_idx = np.sort(np.random.default_rng(cfg.seed).choice(n, cfg.fit_max_rows, replace=False))
        rest = np.setdiff1d(np.arange(n), fit_idx)
        rows = np.sort(np.random.default_rng(2).choice(rest, min(check_rows, len(rest)), replace=False))
        exact_xy = layout.place(X[rows])  # exact anchor search
        moved = np.linalg.norm(exact_xy - xy[rows], axis=1)
        span = float(np.max(np.percentile(xy, 99, axis=0) - np.percentile(xy, 1, axis=0)))
        out["place_check"] = {"rows": len(rows), "moved_median_of_span": round(float(np.median(moved)) / span, 5),
                              "moved_p99_of_span": round(float(np.percentile(moved, 99)) / span, 5),
                              "share_moved_over_1pct_of_span": round(float(np.mean(moved > 0.01 * span)), 4)}
    if check_rows:
        from scipy.stats import spearmanr

        idx = np.sort(np.random.default_rng(1).choice(n, min(check_rows, n), replace=False))
        t = time.perf_counter()
        exact = exact_density_of(data, idx)
        out["sample_rows"] = len(idx)
        out["spearman_sample"] = round(float(spearmanr(c.density[idx], exact)[0]), 4)
        out["sample_mean_abs_diff"] = round(float(np.abs(c.density[idx] - exact).mean()), 4)
        out["sample_check_s"] = round(time.perf_counter() - t, 1)
    return out


def agreement(n: int, dim: int, kind: str, old_ivf: bool) -> dict:
    """The approximate kNN density (the 1M path: float16 rows, sparsity.knn_density) against the exact one."""
    import faiss
    from scipy.stats import spearmanr

    from core.analysis.neighbours import fill_half_rows
    from core.analysis.sparsity import knn_density

    data = Data(kind, n, dim)
    X = np.concatenate([c for _, c in data.chunks()])
    t = time.perf_counter()
    index = faiss.IndexFlatIP(dim)
    index.add(X)
    sims, _ = index.search(X, 11)
    exact = sims[:, 1:].mean(axis=1)
    exact_s = time.perf_counter() - t
    del index
    H = fill_half_rows((X[s:s + CHUNK] for s in range(0, n, CHUNK)), n, dim)
    t = time.perf_counter()
    approx = knn_density(H, 10)
    approx_s = time.perf_counter() - t

    def score(dens):
        return {"spearman": round(float(spearmanr(dens, exact)[0]), 4),
                "mean_abs_diff": round(float(np.abs(dens - exact).mean()), 4),
                "same_side_of_median": round(float(np.mean((dens < np.median(dens)) == (exact < np.median(exact)))),
                                             4)}
    out = {"n": n, "data": kind, "exact_s": round(exact_s, 1), "approx_s": round(approx_s, 1), **score(approx)}
    if old_ivf:  # the path it replaced: IVFFlat on float32, sqrt(n) lists, nprobe 8
        t = time.perf_counter()
        ivf = faiss.IndexIVFFlat(faiss.IndexFlatIP(dim), dim, int(np.sqrt(n)), faiss.METRIC_INNER_PRODUCT)
        ivf.train(X)
        ivf.add(X)
        ivf.nprobe = 8
        s, _ = ivf.search(X, 11)
        out["old_ivf"] = {"seconds": round(time.perf_counter() - t, 1), **score(s[:, 1:].mean(axis=1))}
    return out


def run_child(args: list[str]) -> dict:
    """A child's JSON line; its progress lines pass through to stderr."""
    out = subprocess.run([sys.executable, __file__, *args], stdout=subprocess.PIPE, text=True)
    if out.returncode != 0:
        return {"error": f"child exited {out.returncode}", "returncode": out.returncode}
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    ap.add_argument("--dim", type=int, default=1024)
    ap.add_argument("--data", choices=("mixture", "random"), default="mixture")
    ap.add_argument("--agreement", type=int, default=50_000)
    ap.add_argument("--old-ivf", action="store_true")
    ap.add_argument("--check-rows", type=int, default=2000)
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--child", type=int)
    ap.add_argument("--agreement-child", type=int)
    args = ap.parse_args()
    if args.child:
        print(json.dumps(child(args.child, args.dim, args.data, args.check_rows)))
        return
    if args.agreement_child:
        print(json.dumps(agreement(args.agreement_child, args.dim, args.data, args.old_ivf)))
        return
    result: dict = {"data": args.data, "dim": args.dim, "runs": []}
    common = ["--dim", str(args.dim), "--data", args.data]
    if args.agreement:
        result["agreement"] = run_child(["--agreement-child", str(args.agreement), *common]
                                        + (["--old-ivf"] if args.old_ivf else []))
        print(f"agreement at {args.agreement}: {result['agreement']}", file=sys.stderr, flush=True)
    for n in args.sizes:
        r = run_child(["--child", str(n), "--check-rows", str(args.check_rows), *common])
        result["runs"].append(r)
        if "error" in r:
            print(f"n={n}: failed: {r['error']}", file=sys.stderr, flush=True)
            continue
        print(f"n={n:>7} k={r['k']:>5} ({r['storage']}) {r['seconds']:7.1f}s: k-means {r['kmeans_s']}s, kNN density "
              f"{r['knn_density_s']}s, mass {r['mass_s']}s, UMAP fit {r['umap_fit_s']}s, placement {r['place_s']}s "
              f"(JIT warm-up {r['umap_jit_warmup_s']}s apart); peak RSS {r['peak_rss_mib']} MiB (data "
              f"{r['data_mib']} MiB); density Spearman on {r.get('sample_rows', 0)} sampled rows "
              f"{r.get('spearman_sample')}", file=sys.stderr, flush=True)
    print(json.dumps(result) if args.json else json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
