"""Does the quality read catch junk without flagging good rows? Issue 18's benchmark.

    python bench/quality.py [--quick] [--workspace DIR] [--json]

Clean base (seeded): 200 GSM8K, 150 SVAMP, 100 minerva_math rows (../shared/data). Junk: 10 rows of each of the 12
kinds of bench/junk.py, planted into other rows of the three sources in turn. Datasets, each read on its own (the
read is relative to the dataset's own distribution):
  all          the clean base + every kind's junk (120 of 570 rows, 21%: the stress case)
  kind-KIND    the clean base + that kind's 10 rows (2.2%: a realistic share), one per kind
  clean        the clean base alone
Everything through the product's code and its default feature config (fast mode, every block):
compute_features(quality=True) (features, then the losses the read needs), read_quality, cluster, select.
Reported: recall of the suspect flag per kind (in `all` and in its own kind-KIND); false positives on clean rows per
source (clean, all, and the kind-KIND datasets: mean and worst); the junk share of select's greedy top-K and of the
default (mass) rule's sparse rows before (no read) and after (suspect rows excluded / left out), against the base
rate; the cost of the quality pass (losses alone + the read) over the feature pass (same rows, fresh workspaces,
alternating, median); and the minority families of bench/sparsity.py (mass-rule enrichment with and without the
read, k = 10/20/40 x 3 seeds). --quick: a lighter config (top 2 blocks, sketch 64) and fewer rows, to iterate.
Features and losses are cached by content in the workspace (default $TMPDIR/prism-bench-quality): reruns are cheap.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from quality_data import SOURCES, build_rows, example, passes, read, save, shuffled, time_passes  # noqa: E402

R = lambda x: round(float(x), 4)  # noqa: E731


def share(mask: np.ndarray, sel) -> float:
    sel = np.asarray(sel)
    return float(mask[sel].mean()) if sel.size and (sel.dtype != bool or sel.any()) else 0.0


def before_after(X, suspect, junk, budgets, seeds) -> dict:
    """Junk share of select's greedy top-K and of the default rule's sparse rows, without and with the read."""
    from core.analysis.clusters import ClusterConfig, cluster
    from core.analysis.selection import select

    out = {"base": R(junk.mean())}
    for K in budgets:
        b, a = (select(X, K, exclude=ex)["greedy"].indices for ex in (None, suspect))
        out[f"top{K}"] = [R(share(junk, b)), R(share(junk, a))]
    sparse = np.array([[share(junk, cluster(X, ClusterConfig(seed=s), suspect=m).sparse_rows) for m in (None, suspect)]
                       for s in seeds])
    n = np.array([[cluster(X, ClusterConfig(seed=s), suspect=m).sparse_rows.sum() for m in (None, suspect)]
                  for s in seeds[:1]])
    out["sparse"] = [R(v) for v in sparse.mean(0)]
    out["sparse_rows"] = [int(v) for v in n[0]]
    return out


def minority(X, labels, suspect, ks, seeds) -> dict:
    """bench/sparsity.py's mass-rule enrichment of the minority: its rule_flags (no read) vs cluster(suspect=)."""
    from core.analysis.clusters import ClusterConfig, cluster
    from sparsity import rule_flags

    m = labels == 1
    en = {"before": [], "after": []}
    rec = {"before": [], "after": []}
    for k in ks:
        for seed in seeds:
            for when, flags in (("before", rule_flags(X, k, seed)["mass"][0]),
                                ("after", cluster(X, ClusterConfig(k=k, seed=seed, rule="mass"),
                                                  suspect=suspect).sparse_rows)):
                en[when].append(flags[m].mean() / flags.mean() if flags.any() else 0.0)  # none flagged: lost
                rec[when].append(flags[m].mean())
    return {**{f"enrichment_{w}": R(np.mean(v)) for w, v in en.items()},
            **{f"range_{w}": [R(np.min(v)), R(np.max(v))] for w, v in en.items()},
            **{f"recall_{w}": R(np.mean(v)) for w, v in rec.items()},
            "ratio": R(np.mean(en["after"]) / np.mean(en["before"])) if np.mean(en["before"]) else None,
            "suspect_minority": int(suspect[m].sum()), "minority": int(m.sum()),
            "suspect_majority": int(suspect[~m].sum()), "majority": int((~m).sum())}


def fpr(rows, got) -> dict:
    src = np.array([r["source"] for r in rows])
    clean = np.array([r["junk"] is None for r in rows])
    out = {s: R(got["suspect"][clean & (src == s)].mean()) for s in SOURCES}
    out["overall"] = R(got["suspect"][clean].mean())
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--light-features", action="store_true",
                    help="every row, with --quick's feature config: the read's losses are the model's whatever the "
                         "feature config; the features only serve select, the sparse rules and the minorities")
    ap.add_argument("--workspace", default=os.path.join(tempfile.gettempdir(), "prism-bench-quality"))
    ap.add_argument("--budgets", type=int, nargs="*", default=[20, 50, 100])
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--ks", type=int, nargs="*", default=[10, 20, 40])
    ap.add_argument("--repeats", type=int, default=None, help="cost repeats (default 3; quick 2)")
    ap.add_argument("--cost-rows", type=int, default=None, help="rows timed (default 64; quick 16)")
    ap.add_argument("--no-cost", action="store_true")
    ap.add_argument("--json", action="store_true", help="print one JSON line (every number) instead of the tables")
    ap.add_argument("--save", help="also write the JSON to this file")
    ap.add_argument("--show", help="print the tables of a saved JSON file, run nothing")
    args = ap.parse_args()
    if args.show:
        from junk import KINDS

        return report(json.load(open(args.show)), KINDS)
    t0 = time.perf_counter()
    data = collect(args)
    res = evaluate(data, args)
    if not args.no_cost:
        n = args.cost_rows or (16 if args.quick else 64)
        from core.features.compute import feature_config

        # against the default feature pass (what a user runs), also when the rest used the light config
        res["cost"] = time_passes(shuffled(data["clean"], "cost")[:n],
                                  data["config"] if args.quick else feature_config(),
                                  args.repeats or (2 if args.quick else 3))
    res["criteria"] = criteria(res)
    res["seconds"] = round(time.perf_counter() - t0, 1)
    if args.save:
        Path(args.save).parent.mkdir(parents=True, exist_ok=True)
        Path(args.save).write_text(json.dumps(res) + "\n")
    if args.json:
        print(json.dumps(res))
    else:
        report(res, data["kinds"])


def collect(args) -> dict:
    """Every dataset saved, its features and losses computed (cached by content) and read: rows, features, read."""
    os.environ["PRISM_HOME"] = args.workspace
    os.environ.setdefault("PRISM_MODELS", os.path.join(args.workspace, "models"))
    from core.data.store import Store
    from core.features.compute import feature_config
    from junk import KINDS
    from sparsity import build_families

    light = args.quick or args.light_features
    config = feature_config(fast_blocks=2, sketch_dim=64) if light else feature_config()
    sizes = {"gsm8k": 40, "svamp": 30, "minerva": 20} if args.quick else {"gsm8k": 200, "svamp": 150, "minerva": 100}
    clean, junk = build_rows(sizes, 3 if args.quick else 10)
    pre = "quick-" if args.quick else ("light-" if args.light_features else "")
    sets = {"all": clean + [r for k in KINDS for r in junk[k]], "clean": clean,
            **{f"kind-{k}": clean + junk[k] for k in KINDS}}
    sets = {name: shuffled(rows, name) for name, rows in sets.items()}
    fams = build_families()
    for fam in ("diverse-minority", "homogeneous-minority"):
        rows, labels = fams[fam]
        idx = np.arange(len(rows))
        if args.quick:
            idx = np.r_[np.flatnonzero(labels == 0)[::3], np.flatnonzero(labels == 1)[::3]]
        sets[fam] = [{"id": f"r{i:03d}" + ("-minority" if labels[i] else ""), "prompt": rows[i][0],
                      "response": rows[i][1], "source": fam, "junk": None, "minority": bool(labels[i])} for i in idx]
    got = {}
    with Store() as store:
        for name, rows in sets.items():
            save(store, pre + name, [(r["id"], r["prompt"], r["response"]) for r in rows])
        pass_s = round(passes(store, pre + "all", config), 1)
        for name, rows in sets.items():
            passes(store, pre + name, config)
            got[name] = read(store, pre + name, [r["id"] for r in rows], config)
    return {"config": config, "sizes": sizes, "per_kind": len(junk[next(iter(KINDS))]), "clean": clean,
            "sets": sets, "got": got, "kinds": list(KINDS), "pass_s": pass_s}


def evaluate(data: dict, args) -> dict:
    """Every number of the benchmark from the rows and their read (data["got"][name]["suspect"])."""
    config, sets, got, kinds = data["config"], data["sets"], data["got"], data["kinds"]
    seeds = list(range(args.seeds))
    res = {"config": {"key": config.key(), "mode": config.mode, "fast_blocks": config.fast_blocks,
                      "sketch_dim": config.sketch_dim, "quick": args.quick, "light_features": args.light_features},
           "rows": {"clean": data["sizes"], "per_kind": data["per_kind"]}, "pass_s": data["pass_s"]}
    is_junk = {n: np.array([r["junk"] is not None for r in rows]) for n, rows in sets.items()}
    kind_of = {n: np.array([r["junk"] or "" for r in rows]) for n, rows in sets.items()}
    recall = {}
    for k in kinds:
        a, b = got["all"]["suspect"][kind_of["all"] == k], got[f"kind-{k}"]["suspect"][is_junk[f"kind-{k}"]]
        codes = [c for j in np.flatnonzero(kind_of["all"] == k) for c in got["all"]["codes"][j][:1]]
        recall[k] = {"all": R(a.mean()), "alone": R(b.mean()),
                     "top_reason": max(set(codes), key=codes.count) if codes else None}
    kind_fpr = {k: fpr(sets[f"kind-{k}"], got[f"kind-{k}"]) for k in kinds}
    res["recall"] = recall
    res["fpr"] = {"clean": fpr(sets["clean"], got["clean"]), "all": fpr(sets["all"], got["all"]),
                  "per_kind_mean": {s: R(np.mean([v[s] for v in kind_fpr.values()])) for s in (*SOURCES, "overall")},
                  "per_kind_max": {s: R(np.max([v[s] for v in kind_fpr.values()])) for s in (*SOURCES, "overall")}}
    budgets = [b for b in args.budgets if b < len(sets["clean"])]
    res["shares"] = {"all": before_after(got["all"]["X"], got["all"]["suspect"], is_junk["all"], budgets, seeds)}
    per = {k: before_after(got[f"kind-{k}"]["X"], got[f"kind-{k}"]["suspect"], is_junk[f"kind-{k}"], budgets, seeds)
           for k in kinds}
    res["shares"]["per_kind"] = per
    res["shares"]["per_kind_mean"] = {m: [R(np.mean([p[m][i] for p in per.values()])) for i in (0, 1)]
                                      for m in per[kinds[0]] if isinstance(per[kinds[0]][m], list)}
    res["shares"]["per_kind_mean"]["base"] = R(np.mean([p["base"] for p in per.values()]))
    fams = [n for n in sets if n.endswith("-minority")]
    res["minority"] = {f: minority(got[f]["X"], np.array([r["minority"] for r in sets[f]], dtype=int),
                                   got[f]["suspect"], args.ks, seeds) for f in fams}
    # evidence: missed junk (in its own dataset), flagged clean rows (clean and all), flagged family rows
    ex = {"missed": [], "false_positive": []}
    for k in kinds:
        rows, g = sets[f"kind-{k}"], got[f"kind-{k}"]
        ex["missed"] += [example(rows[j], g, j) for j in np.flatnonzero(is_junk[f"kind-{k}"] & ~g["suspect"])][:4]
    for name in ("clean", "all"):
        rows, g = sets[name], got[name]
        ex["false_positive"] += [{"dataset": name, **example(rows[j], g, j)}
                                 for j in np.flatnonzero(~is_junk[name] & g["suspect"])]
    for f in fams:
        rows, g = sets[f], got[f]
        lab = np.array([r["minority"] for r in rows])
        flagged = np.flatnonzero(g["suspect"])
        ex["false_positive"] += [{"dataset": f, **example(rows[j], g, j)}
                                 for j in [*flagged[lab[flagged]][:4], *flagged[~lab[flagged]][:4]]]
    res["examples"] = ex
    return res


def criteria(res: dict) -> dict:
    recall = res["recall"]
    crit = {"recall_all_min": min(v["all"] for v in recall.values()),
            "recall_alone_min": min(v["alone"] for v in recall.values()),
            "fpr_max": max(max(v[s] for s in SOURCES) for v in (res["fpr"]["clean"], res["fpr"]["all"],
                                                                res["fpr"]["per_kind_max"]))}
    sh = [res["shares"]["all"]] + list(res["shares"]["per_kind"].values())
    crit["after_at_or_below_base"] = all(s[m][1] <= s["base"] for s in sh for m in s if isinstance(s[m], list)
                                         and m != "sparse_rows")
    crit["diverse_ratio"] = res["minority"]["diverse-minority"]["ratio"]
    crit["cost_ratio"] = res.get("cost", {}).get("ratio")
    crit["pass"] = {"recall": crit["recall_all_min"] >= 0.9 and crit["recall_alone_min"] >= 0.9,
                    "fpr": crit["fpr_max"] <= 0.03, "shares": crit["after_at_or_below_base"],
                    "minority": (crit["diverse_ratio"] or 0) >= 0.9,
                    "cost": crit["cost_ratio"] is not None and crit["cost_ratio"] <= 0.5}
    return crit


def pct(x) -> str:
    return f"{100 * x:.0f}%" if x is not None else "-"


def report(res: dict, kinds) -> None:
    sh, per = res["shares"], res["shares"]["per_kind"]
    tops = [m for m in sh["all"] if m.startswith("top")]
    print("| kind | recall (all) | recall (alone) | first reason | " + " | ".join(f"{m} before→after (alone)"
                                                                          for m in tops) + " | sparse before→after |")
    print("|---" * (5 + len(tops)) + "|")
    for k in kinds:
        r, p = res["recall"][k], per[k]
        print(f"| {k} | {pct(r['all'])} | {pct(r['alone'])} | {r['top_reason']} | "
              + " | ".join(f"{pct(p[m][0])} → {pct(p[m][1])}" for m in tops)
              + f" | {pct(p['sparse'][0])} → {pct(p['sparse'][1])} |")
    print("\n| false positives on clean rows | " + " | ".join(SOURCES) + " | overall |")
    print("|---" * 5 + "|")
    for name, label in (("clean", "clean base alone"), ("all", "all kinds (21% junk)"),
                        ("per_kind_mean", "kind-KIND, mean of 12"), ("per_kind_max", "kind-KIND, worst of 12")):
        v = res["fpr"][name]
        print(f"| {label} | " + " | ".join(f"{100 * v[s]:.1f}%" for s in (*SOURCES, "overall")) + " |")
    print("\n| junk share (base rate) | " + " | ".join(f"{m} before → after" for m in (*tops, "sparse")) + " |")
    print("|---" * (2 + len(tops)) + "|")
    for label, v in ((f"all kinds ({pct(sh['all']['base'])})", sh["all"]),
                     (f"one kind, mean of 12 ({100 * sh['per_kind_mean']['base']:.1f}%)", sh["per_kind_mean"])):
        print(f"| {label} | " + " | ".join(f"{100 * v[m][0]:.1f}% → {100 * v[m][1]:.1f}%" for m in (*tops, "sparse"))
              + " |")
    print(f"(sparse rows, all kinds, seed 0: {sh['all']['sparse_rows'][0]} before, {sh['all']['sparse_rows'][1]} after)")
    print("\n| minority family | mass enrichment without read | with read | ratio | minority suspect | majority suspect |")
    print("|---" * 6 + "|")
    for fam, m in res["minority"].items():
        print(f"| {fam} | {m['enrichment_before']:.2f} [{m['range_before'][0]:.2f}-{m['range_before'][1]:.2f}] | "
              f"{m['enrichment_after']:.2f} [{m['range_after'][0]:.2f}-{m['range_after'][1]:.2f}] | {m['ratio']} | "
              f"{m['suspect_minority']}/{m['minority']} | {m['suspect_majority']}/{m['majority']} |")
    if "cost" in res:
        c = res["cost"]
        print(f"\ncost ({c['rows']} rows, {c['repeats']} alternating repeats, median): feature pass "
              f"{c['feature_median_s']} s, quality pass {c['quality_median_s']} s: ratio {c['ratio']} {c['ratios']}")
    print("\ncriteria:", json.dumps(res["criteria"]))
    for what in ("missed", "false_positive"):
        print(f"\n{what} ({len(res['examples'][what])}):")
        for e in res["examples"][what][:30]:
            sig = " ".join(f"{s}={e.get(s)}" for s in ("loss", "loss_alone", "ifd", "overlap", "compression", "length"))
            print(f"  {e.get('dataset', '')} {e['id']} {e.get('codes')} {sig} {e.get('response', '')[:60]!r}")
    print(f"\n{res['seconds']} s")


if __name__ == "__main__":
    main()
