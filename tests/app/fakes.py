"""Analysed datasets without a model: features, embeddings, the quality read's losses and a 2-D layout written straight
into the workspace, so the analysis finds everything cached (no model load, no UMAP fit) and app tests run in seconds.
The vectors are random but grouped by a label column, so clusters and sparse rules have something to find; junk_file
plants rows the quality read must call suspect."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from core.analysis.demo import DEMO_FILE
from core.data.ingest import ingest_file


def grouped_vectors(groups: list[str], dim: int, seed: int = 0, spread: float = 0.6) -> np.ndarray:
    rng = np.random.default_rng(seed)
    names = sorted(set(groups))
    centres = {g: rng.normal(size=dim) for g in names}
    return np.stack([centres[g] + spread * rng.normal(size=dim) for g in groups]).astype(np.float32)


def fake_loss_values(ids: list[str], pairs: list[tuple[str, str]], overrides: dict | None = None) -> list[tuple]:
    """(loss, loss alone) per row as fake_losses writes them."""
    from core.analysis.quality import assess

    overrides = overrides or {}
    overlap = assess(ids, pairs, [(None, None)] * len(ids)).signals["overlap"]  # the text's part of the read only
    return [overrides.get(i) or (1.2, 1.2 / (0.7 if ov > 0 else 0.5)) for i, ov in zip(ids, overlap)]


def fake_losses(store, name: str, config, overrides: dict | None = None) -> None:
    """The proxy model's losses the quality read uses, written for every row without them (the analysis then loads
    no model): loss 1.2 nats per token, and a prompt that helps (IFD 0.7; 0.5 for a response sharing no number or
    rare word with its prompt, so a clean row is never 'unrelated'). `overrides`: id -> (loss, loss alone)."""
    frame = store.samples_frame(name, "all")
    key = store.register_config(config)
    missing = set(store.missing_loss_hashes(name, key, "loss")) | set(store.missing_loss_hashes(name, key,
                                                                                                 "loss_alone"))
    values = fake_loss_values(frame["id"].tolist(), list(zip(frame["prompt"], frame["response"])), overrides)
    rows = [(h, v) for h, v in zip(frame["content_hash"], values) if h in missing]
    if rows:
        hashes = [h for h, _ in rows]
        store.write_losses(key, hashes, "loss", np.array([v[0] for _, v in rows]))
        store.write_losses(key, hashes, "loss_alone", np.array([v[1] for _, v in rows]))


def fake_analyse(store, name: str, options, *, label: str = "source", seed: int = 0,
                 losses: dict | None = None) -> None:
    """Write what an analysis of `name` under `options` would compute (features, embeddings, a layout, the quality
    read's losses: `losses` id -> (loss, loss alone) for chosen rows), then run it (it only reads and clusters)."""
    from core.analysis.analyse import run_analysis
    from core.analysis.gradient_map import MapConfig, seed_layout
    from core.features.embeddings import EMBEDDING_DIM, EMBEDDING_KEY

    config = options.feature_config()
    fake_losses(store, name, config, losses)
    samples = store.samples(name)
    groups = [str(s.meta.get(label, "")) for s in samples]
    missing = set(store.missing_feature_hashes(name, config))
    todo = [(s.content_hash, g) for s, g in zip(samples, groups) if s.content_hash in missing]
    if todo:
        store.register_config(config)
        store.write_features(config, [h for h, _ in todo], grouped_vectors([g for _, g in todo], config.dim, seed))
    store.write_vectors(EMBEDDING_KEY, EMBEDDING_DIM, [s.content_hash for s in samples],
                        grouped_vectors(groups, EMBEDDING_DIM, seed + 1))
    ids, _ = store.load_features(name, config.key(), config.dim)
    seed_layout(store, name, config.key(), config.dim, grouped_vectors(groups, 2, seed + 2, spread=0.3),
                MapConfig(seed=options.seed))
    run_analysis(store, name, options)


def fake_shipped_file(path: Path, options) -> Path:
    """A demo features file like the shipped one (same rows, same identity, the quality read's losses), made of grouped
    random vectors, as tests/analysis/test_demo.py::fake_shipped makes it; no store needed (content hashes come from
    the file)."""
    samples = ingest_file(DEMO_FILE).samples
    groups = [str(s.meta.get("source", "")) for s in samples]
    losses = np.array(fake_loss_values([s.id for s in samples], [(s.prompt, s.response) for s in samples]))
    np.savez(path, identity=np.array(json.dumps(options.feature_config().identity(), sort_keys=True)),
             hashes=np.array([s.content_hash for s in samples]), X=grouped_vectors(groups, 1024, 0),
             embeddings=grouped_vectors(groups, 384, 1), xy=grouped_vectors(groups, 2, 2, spread=0.3),
             loss=losses[:, 0].astype(np.float32), loss_alone=losses[:, 1].astype(np.float32))
    return path


JUNK = {  # id -> (response, loss, loss alone): each kind of junk the quality read names (tests/analysis/test_quality)
    "junk-emoji": ("😀😂🤣😍😎🤔🙄😴🥳🤯" * 15, 1.3, 1.9),
    "junk-script": ("首先我们计算每个人分到的苹果数量，然后把剩下的苹果加起来。答案是十二。", 1.2, 1.8),
    "junk-mismatched": ("Wendy drives 120 miles at 60 miles per hour, so the trip takes 120 / 60 = 2 hours. The answer "
                        "is 2.", 1.3, 1.28),
}


def junk_file(path: Path, n_clean: int = 40, seed: int = 0) -> Path:
    """Clean math rows (the response reuses its prompt's numbers and names; four 'source' groups) and the JUNK rows,
    as JSONL; another `seed`, other numbers (other content hashes: none of another file's losses or features apply).
    The junk rows' losses for fake_analyse: JUNK_LOSSES."""
    names = ["Ava", "Ben", "Cleo", "Dmitri", "Esme", "Farid", "Gwen", "Hiro"]
    things = ["apples", "marbles", "stickers", "pencils", "cookies", "tickets"]
    rng = np.random.default_rng(seed)
    lines = []
    for i in range(n_clean):
        a, b = int(rng.integers(2, 90)), int(rng.integers(2, 90))
        who, what = names[i % len(names)], things[i % len(things)]
        lines.append({"id": f"c{i}", "source": f"group{i % 4}",
                      "prompt": f"{who} has {a} {what} and buys {b} more. How many {what} does {who} have now?",
                      "response": f"{who} starts with {a} {what}. After buying {b} more, {who} has {a} + {b} = {a + b} "
                                  f"{what}. The answer is {a + b}."})
    lines += [{"id": i, "source": "junk", "prompt": lines[0]["prompt"], "response": r} for i, (r, _, _) in JUNK.items()]
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in lines), encoding="utf-8")
    return path


JUNK_LOSSES = {i: (loss, alone) for i, (_, loss, alone) in JUNK.items()}
