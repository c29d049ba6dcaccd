"""Time and peak memory of clustering (+ kNN density) and UMAP on random unit rows, one child process per size.

    python bench/cluster_map.py [--sizes 10000 100000] [--dim 1024]
"""
from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def child(n: int, dim: int) -> dict:
    sys.path.insert(0, str(ROOT))
    import numpy as np

    from core.analysis.clusters import default_k, spherical_kmeans
    from core.analysis.sparsity import knn_density, paper_sparse
    from core.analysis.gradient_map import MapConfig, fit_layout, warm_up_umap

    warm = warm_up_umap()  # JIT cost is paid once per process; reported apart
    X = np.random.default_rng(0).standard_normal(size=(n, dim), dtype=np.float32)  # no float64 copy
    X /= np.linalg.norm(X, axis=1, keepdims=True)
    base_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    k = default_k(n)
    t = time.perf_counter()
    labels, centroids = spherical_kmeans(X, k)
    kmeans_s = time.perf_counter() - t
    paper_sparse(np.bincount(labels, minlength=k))
    t = time.perf_counter()
    knn_density(X, 10)
    density_s = time.perf_counter() - t
    t = time.perf_counter()
    fit_layout(X, MapConfig())
    umap_s = time.perf_counter() - t
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"n": n, "dim": dim, "k": k, "kmeans_s": kmeans_s, "knn_density_s": density_s, "umap_s": umap_s,
            "umap_jit_warmup_s": warm, "data_mib": X.nbytes / 2**20, "rss_after_data_mib": base_rss,
            "peak_rss_mib": peak}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    ap.add_argument("--dim", type=int, default=1024)
    ap.add_argument("--child", type=int)
    args = ap.parse_args()
    if args.child:
        print(json.dumps(child(args.child, args.dim)))
        return
    rows = []
    for n in args.sizes:
        out = subprocess.run([sys.executable, __file__, "--child", str(n), "--dim", str(args.dim)],
                             capture_output=True, text=True, check=True)
        rows.append(json.loads(out.stdout.strip().splitlines()[-1]))
        r = rows[-1]
        print(f"n={n:>7} k={r['k']:>5}  k-means {r['kmeans_s']:7.1f}s  kNN density {r['knn_density_s']:7.1f}s  "
              f"UMAP {r['umap_s']:7.1f}s (JIT warm-up {r['umap_jit_warmup_s']:.0f}s apart)  "
              f"peak RSS {r['peak_rss_mib']:.0f} MiB (data {r['data_mib']:.0f} MiB)", flush=True)
    print(json.dumps(rows))


if __name__ == "__main__":
    main()
