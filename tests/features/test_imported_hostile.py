"""Issue 17, holes 6, 7 and 9 on imported vectors: hostile files end in one `error:` line and exit 2 with nothing
half-written; feature sets never leak between datasets whose names hold ':', '%' or '_'; huge values keep their
direction."""
import json

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tests.helpers import DATA, ingest_mix, run_cli

IDS = [json.loads(line)["id"] for line in (DATA / "mixture_24.jsonl").read_text().splitlines()]



def nothing_stored(workspace) -> None:
    from core.data.store import Store

    with Store() as store:
        assert store.query("SELECT count(*) FROM feature_configs")[0][0] == 0
        assert store.query("SELECT table_name FROM information_schema.tables WHERE starts_with(table_name, "
                           "'features_d')") == []
        assert store.query("SELECT count(*) FROM kv_cache WHERE starts_with(key, 'imported:')")[0][0] == 0


def hostile_files(tmp_path, ids: list[str] = IDS) -> dict:
    """Hostile vector files for a dataset of `ids` (also bench/hostile_storage.py's): {case: (import-vectors
    arguments, what its one-line error says)}."""
    from numpy.lib import format as npy

    n = len(ids)
    good = np.random.default_rng(0).normal(size=(n, 8)).astype(np.float32)
    np.save(tmp_path / "good.npy", good)
    (tmp_path / "ids.txt").write_text("\n".join(ids))
    (tmp_path / "int_ids.json").write_text(json.dumps(list(range(n))))
    (tmp_path / "nested_ids.json").write_text(json.dumps([[i] for i in ids]))
    np.save(tmp_path / "strings.npy", np.array([["a"] * 8] * n))
    np.save(tmp_path / "complex.npy", good + 1j)
    with open(tmp_path / "huge.npy", "wb") as fh:  # a header that claims 10^12 rows over 64 bytes of data
        npy.write_array_header_1_0(fh, {"descr": "<f4", "fortran_order": False, "shape": (10 ** 12, 8)})
        fh.write(bytes(64))
    np.save(tmp_path / "wide.npy", np.ones((n, 200_000), dtype=np.float32))
    pq.write_table(pa.table({"id": ids[:20], "emb": list(np.ones((20, 32768), dtype=np.float32))}),
                   tmp_path / "wide.parquet")
    return {"int ids": (["good.npy", "--ids", "int_ids.json"], "strings"),
            "nested ids": (["good.npy", "--ids", "nested_ids.json"], "strings"),
            "strings npy": (["strings.npy", "--ids", "ids.txt"], "not numbers"),
            "complex npy": (["complex.npy", "--ids", "ids.txt"], "complex"),
            "header claims 10^12 rows": (["huge.npy", "--ids", "ids.txt"], "header claims"),
            "200,000 dims": (["wide.npy", "--ids", "ids.txt"], "dimensions"),
            "20 x 32768 parquet": (["wide.parquet"], "dimensions")}


@pytest.fixture()
def ingested(workspace):
    return ingest_mix(workspace)


def test_hostile_vector_files_are_one_line_errors_with_exit_2_and_store_nothing(ingested, tmp_path):
    for case, (args, message) in hostile_files(tmp_path).items():
        res = run_cli(ingested, "import-vectors", "mix", *[str(tmp_path / a) if "." in a else a for a in args],
                  "--set", "s")
        err = res.stderr.strip()
        assert res.returncode == 2, (case, res.returncode, err[-500:])
        assert err.startswith("error: ") and len(err.splitlines()) == 1 and message in err, (case, err[-500:])
        nothing_stored(ingested)


def test_a_store_error_midway_leaves_no_config_table_or_name_behind(store, tmp_path, monkeypatch):
    import duckdb

    from core.data.ingest import ingest_file
    from core.features import imported

    store.save_dataset("mix", ingest_file(DATA / "mixture_24.jsonl"), source="x")
    np.save(tmp_path / "v.npy", np.random.default_rng(1).normal(size=(24, 8)).astype(np.float32))
    (tmp_path / "ids.txt").write_text("\n".join(IDS))

    def boom(*_):
        raise duckdb.OutOfMemoryException("Out of Memory Error: failed to allocate")

    monkeypatch.setattr(imported, "INSERT_BYTES", 4 * 8 * 5)  # several INSERTs before the failure
    monkeypatch.setattr(imported, "set_key", boom)
    with pytest.raises(ValueError, match="nothing was stored"):
        imported.import_vectors(store, "mix", tmp_path / "v.npy", name="s", ids_path=tmp_path / "ids.txt")
    assert store.query("SELECT count(*) FROM feature_configs")[0][0] == 0
    assert store.query("SELECT table_name FROM information_schema.tables WHERE table_name = 'features_d8'") == []


def test_imported_sets_never_leak_between_datasets_named_alike(store, tmp_path):
    from core.data.ingest import ingest_file
    from core.features.imported import import_vectors, imported_sets

    for name in ("d", "d:x", "e_", "eX", "100%", "100x"):
        store.save_dataset(name, ingest_file(DATA / "mixture_24.jsonl"), source="x")
    (tmp_path / "ids.txt").write_text("\n".join(IDS))
    for i, (dataset, set_name) in enumerate((("d:x", "s"), ("d", "x:s"), ("eX", "t"), ("100x", "u"))):
        np.save(tmp_path / f"v{i}.npy", np.random.default_rng(i).normal(size=(24, 4 + i)).astype(np.float32))
        import_vectors(store, dataset, tmp_path / f"v{i}.npy", name=set_name, ids_path=tmp_path / "ids.txt")
    found = {ds: {name: f.dim for name, f in imported_sets(store, ds).items()}
             for ds in ("d", "d:x", "e_", "eX", "100%", "100x")}
    assert found == {"d": {"x:s": 5}, "d:x": {"s": 4}, "e_": {}, "eX": {"t": 6}, "100%": {}, "100x": {"u": 7}}


def test_a_legacy_key_counts_only_for_its_own_dataset(store):
    from core.features.imported import imported_sets

    ident = {"imported": "s", "file_sha256": "0" * 64, "dim": 4}
    store.cache_put("imported:d:x:s", ident)  # written by an older version for dataset d:x, set s
    assert list(imported_sets(store, "d:x")) == ["s"] and imported_sets(store, "d") == {}


def test_huge_values_keep_their_direction_and_bad_rows_are_named(ingested, tmp_path):
    from core.analysis.diversity import vendi_score

    X = np.random.default_rng(2).normal(size=(24, 12)).astype(np.float32)
    path = tmp_path / "big.parquet"
    pq.write_table(pa.table({"id": IDS, "emb": list(X * np.float32(1e20))}), path)
    res = run_cli(ingested, "import-vectors", "mix", str(path), "--set", "big", "--json")
    assert res.returncode == 0, res.stderr
    score = json.loads(run_cli(ingested, "score", "mix", "--features", "big", "--json").stdout)
    assert score["n"] == 24 and score["g_vendi"] == pytest.approx(vendi_score(X), rel=1e-5)
    bad = X.copy()
    bad[3, 1], bad[9, 0], bad[11] = np.inf, np.nan, 0.0
    pq.write_table(pa.table({"id": IDS, "emb": list(bad)}), tmp_path / "bad.parquet")
    res = run_cli(ingested, "import-vectors", "mix", str(tmp_path / "bad.parquet"), "--set", "bad")
    assert res.returncode == 2 and "2 row(s)" in res.stderr and repr(IDS[3]) in res.stderr, res.stderr
    assert "1 row(s) are all zeros" in res.stderr and repr(IDS[11]) in res.stderr


def test_select_refuses_a_symlink_out_before_any_work(ingested, tmp_path):
    X = np.random.default_rng(3).normal(size=(24, 8)).astype(np.float32)
    pq.write_table(pa.table({"id": IDS, "emb": list(X)}), tmp_path / "v.parquet")
    assert run_cli(ingested, "import-vectors", "mix", str(tmp_path / "v.parquet"), "--set", "v").returncode == 0
    victim = tmp_path / "victim.txt"
    victim.write_bytes(b"precious")
    (tmp_path / "sel.jsonl").symlink_to(victim)
    res = run_cli(ingested, "select", "mix", "--budget", "3", "--features", "v", "--out", str(tmp_path / "sel.jsonl"))
    assert res.returncode == 2 and "symbolic link" in res.stderr and "Traceback" not in res.stderr, res.stderr
    assert victim.read_bytes() == b"precious" and (tmp_path / "sel.jsonl").is_symlink()
