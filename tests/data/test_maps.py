"""Maps' stored parts (core/data/maps.py): map rows replaced whole and read in map order, and .npz artifacts read back
only when the file is exactly the one recorded."""
import numpy as np
import pytest


def rows(n: int, shift: float = 0.0) -> dict:
    return {"cluster": np.arange(n) % 3, "sparse": np.arange(n) % 2 == 0, "density": np.linspace(0, 1, n) + shift,
            "xy": np.stack([np.arange(n), -np.arange(n)], axis=1).astype(np.float32) + shift,
            "mass": np.full(n, 0.5 + shift), "suspect": np.arange(n) == 1}


def test_map_rows_come_back_in_map_order_with_every_column(store):
    ids = ["z", "a", "m", "b"]  # map order is not id order
    store.write_map_rows("k", ids, **rows(4))
    got = store.map_rows("k")
    assert [str(i) for i in got["sample_id"]] == ids
    np.testing.assert_array_equal(got["cluster"], [0, 1, 2, 0])
    np.testing.assert_array_equal(got["sparse"], [True, False, True, False])
    np.testing.assert_allclose(got["density"], np.linspace(0, 1, 4), rtol=1e-6)
    np.testing.assert_array_equal(got["x"], [0, 1, 2, 3])
    np.testing.assert_array_equal(got["y"], [0, -1, -2, -3])
    np.testing.assert_allclose(got["mass"], 0.5)
    np.testing.assert_array_equal(got["suspect"], [False, True, False, False])


def test_rewriting_a_map_replaces_its_rows_and_leaves_other_maps_alone(store):
    store.write_map_rows("k", ["a", "b", "c"], **rows(3))
    store.write_map_rows("other", ["x", "y"], **rows(2))
    store.write_map_rows("k", ["c", "a"], **rows(2, shift=1.0))
    got = store.map_rows("k")
    assert [str(i) for i in got["sample_id"]] == ["c", "a"]
    np.testing.assert_allclose(got["mass"], 1.5)
    assert [str(i) for i in store.map_rows("other")["sample_id"]] == ["x", "y"]
    assert len(store.map_rows("none")["sample_id"]) == 0


def test_a_failed_rewrite_keeps_the_rows_the_map_had(store):
    store.write_map_rows("k", ["a", "b"], **rows(2))
    with pytest.raises(Exception):
        store.write_map_rows("k", ["a", "a"], **rows(2))  # a duplicate id: the primary key refuses the INSERT
    assert [str(i) for i in store.map_rows("k")["sample_id"]] == ["a", "b"]


def test_a_row_without_a_suspect_flag_reads_as_not_suspect(store):
    store.write_map_rows("k", ["a", "b"], **rows(2))
    store.query("UPDATE map_rows SET suspect = NULL WHERE map_key = 'k'")  # a map older than the quality read
    np.testing.assert_array_equal(store.map_rows("k")["suspect"], [False, False])


def test_an_artifact_is_read_back_only_when_it_is_the_file_recorded(store):
    arrays = {"a": np.arange(6, dtype=np.float32).reshape(2, 3), "ids": np.array(["x", "y"], dtype=str)}
    sha = store.save_artifact("map-k", **arrays)
    path = store.path.parent / "artifacts" / "map-k.npz"
    assert path.is_file() and store.artifact_dir() == path.parent
    back = store.load_artifact("map-k", sha)
    assert set(back) == {"a", "ids"}
    np.testing.assert_array_equal(back["a"], arrays["a"])
    assert back["ids"].tolist() == ["x", "y"]
    assert store.load_artifact("map-k", "0" * 64) is None  # another file than the one recorded
    assert store.load_artifact("map-none", sha) is None  # missing
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))  # altered on disk
    assert store.load_artifact("map-k", sha) is None


def test_an_artifact_holding_a_pickle_is_never_loaded(store):
    sha = store.save_artifact("evil", obj=np.array([{"a": 1}], dtype=object))  # savez pickles object arrays
    with pytest.raises(ValueError, match="allow_pickle"):
        store.load_artifact("evil", sha)
