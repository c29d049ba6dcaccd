"""`python -m core datasets --delete NAME [--yes]` and `--rename OLD NEW`: without --yes nothing is deleted (the
command says what would be, exit 2); a clash is one error line (exit 2); --json prints what was done."""
import json

from tests.helpers import DATA, run_cli


def test_delete_needs_yes_rename_refuses_a_clash(workspace):
    for name, fixture in (("x", "gsm8k_8.jsonl"), ("y", "mixture_24.jsonl")):
        assert run_cli(workspace, "ingest", str(DATA / fixture), "--name", name).returncode == 0

    def names():
        out = run_cli(workspace, "datasets", "--json")
        return [d["name"] for d in json.loads(out.stdout)["datasets"]]

    unconfirmed = run_cli(workspace, "datasets", "--delete", "x", "--json")
    assert unconfirmed.returncode == 2 and "--yes" in unconfirmed.stderr and "8 samples" in unconfirmed.stderr
    assert not unconfirmed.stdout and names() == ["x", "y"]
    clash = run_cli(workspace, "datasets", "--rename", "y", "x")
    assert clash.returncode == 2 and "exists already" in clash.stderr and names() == ["x", "y"]
    renamed = run_cli(workspace, "datasets", "--rename", "y", "z", "--json")
    assert json.loads(renamed.stdout) == {"dataset": "z", "renamed_from": "y"} and names() == ["x", "z"]
    deleted = run_cli(workspace, "datasets", "--delete", "x", "--yes", "--json")
    result = json.loads(deleted.stdout)
    assert deleted.returncode == 0 and result["deleted"] and result["removed"]["samples"] == 8
    assert names() == ["z"]
