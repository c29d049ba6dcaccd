"""Issue 17, hole 8: after `ingest --replace`, tags and exclusions follow the ids: kept for ids that remain, dropped
for ids that went (and the replace says how many), and undo still works on the ids that remain."""
import json

from tests.helpers import DATA, run_cli



def test_replace_keeps_marks_of_remaining_ids_drops_the_others_and_undo_still_works(workspace, tmp_path):
    rows = [json.loads(line) for line in (DATA / "mixture_24.jsonl").read_text().splitlines()]
    ids = [r["id"] for r in rows]
    first = tmp_path / "v1.jsonl"
    first.write_text("".join(json.dumps(r) + "\n" for r in rows))
    assert run_cli(workspace, "ingest", str(first), "--name", "m").returncode == 0
    excl = json.loads(run_cli(workspace, "tag", "m", "--ids", ",".join(ids[:3]), "--exclude", "--json").stdout)
    assert json.loads(run_cli(workspace, "tag", "m", "--ids", f"{ids[3]},{ids[4]}", "--tag", "hard", "--json").stdout)[
        "changed"] == 2
    gone = {ids[1], ids[4], ids[20]}  # one excluded, one tagged, one unmarked row leave the file
    second = tmp_path / "v2.jsonl"
    second.write_text("".join(json.dumps(r) + "\n" for r in rows if r["id"] not in gone))
    res = run_cli(workspace, "ingest", str(second), "--name", "m", "--replace", "--json")
    assert res.returncode == 0, res.stderr

    from core.data.store import Store

    with Store() as store:
        assert store.excluded("m") == sorted([ids[0], ids[2]])
        assert store.tags("m") == {ids[3]: ["hard"]}
        assert len(store.samples("m")) == 21 - 2 and len(store.samples("m", "all")) == 21
    undo = run_cli(workspace, "tag", "m", "--undo", excl["action_id"], "--json")
    assert undo.returncode == 0, undo.stderr
    assert json.loads(undo.stdout)["changed"] == 2 and json.loads(undo.stdout)["excluded"] == 0
    with Store() as store:
        assert store.excluded("m") == [] and len(store.samples("m")) == 21
        assert store.fingerprint("m", "kept") == store.fingerprint("m", "all")
    assert json.loads(res.stdout)["replaced"] == {"rows_before": 24, "ids_gone": 3, "exclusions_dropped": 1,
                                                  "tags_dropped": 1}


def test_an_undo_whose_rows_all_went_changes_nothing_and_fails_nothing(store, tmp_path):
    from core.data.ingest import ingest_file

    rows = [json.loads(line) for line in (DATA / "mixture_24.jsonl").read_text().splitlines()]
    store.save_dataset("m", ingest_file(DATA / "mixture_24.jsonl"), source="x")
    action = store.mark("m", [rows[0]["id"]], "tag", "odd")
    smaller = tmp_path / "m.jsonl"
    smaller.write_text("".join(json.dumps(r) + "\n" for r in rows[1:]))
    store.save_dataset("m", ingest_file(smaller), source="x", replace=True)
    assert store.tags("m") == {}
    assert store.undo(action.action_id).n == 0
