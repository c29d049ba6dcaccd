"""Markdown tables from the benches' --json outputs in bench/results/ (for bench/RESULTS.md).

    python tools/results_tables.py fidelity|sparsity
"""
import json
import sys
from pathlib import Path

R = Path(__file__).resolve().parent.parent / "bench" / "results"


def fidelity() -> None:
    res = json.loads((R / "fidelity.json").read_text())
    variants = [v for v in next(iter(res["families"].values())) if isinstance(v, str) and v not in (
        "mixtures", "mean_g_vendi", "full_vs_ref")]
    print("| family | mixtures | full vs ref ρ / ratio | " + " | ".join(f"{v} vs full ρ / ratio" for v in variants)
          + " |")
    print("|---|---|---|" + "---|" * len(variants))
    for name, f in res["families"].items():
        cells = [f"{f['full_vs_ref']['rho']:.3f} / {f['full_vs_ref']['median_ratio']:.3f}"]
        cells += [f"{f[v]['vs_full']['rho']:.3f} / {f[v]['vs_full']['median_ratio']:.3f}" for v in variants]
        print(f"| {name} | {f['mixtures']} | " + " | ".join(cells) + " |")
    if "cost" in res:
        print("\ncost:", {k: round(v, 3) if isinstance(v, float) else v for k, v in res["cost"].items()})


def sparsity() -> None:
    res = json.loads((R / "sparsity.json").read_text())
    rules = list(next(iter(res.values())))
    print("| family | " + " | ".join(rules) + " |")
    print("|---|" + "---|" * len(rules))
    for fam, by_rule in res.items():
        cells = []
        for rule in rules:
            e = by_rule[rule]["enrichment"]
            auc = by_rule[rule].get("auc")
            cells.append(f"{e['mean']:.2f} [{e['min']:.2f}-{e['max']:.2f}]"
                         + (f", AUC {auc['mean']:.2f}" if auc else "")
                         + f", flags {by_rule[rule]['flagged']['mean']:.0%}")
        print(f"| {fam} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    {"fidelity": fidelity, "sparsity": sparsity}[sys.argv[1]]()
