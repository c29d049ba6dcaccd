"""End to end with the real embedded SmolLM2: the CLI scores a file (the product's default feature config: the default
run's one real featurisation with it); a killed featurisation resumes exactly; analyse runs what the app runs (those
two with the light feature config of tests/helpers.py: the same code, a fraction of the cost)."""
import json
import signal

import pytest

from tests.helpers import DATA, LIGHT_FIELDS, LIGHT_FLAGS, kill_after_progress, light_config, run_cli


def test_score_file_json_with_real_smollm2(workspace):
    """The CLI's score of a file: one JSON object, then the cached rerun. The real model on the light feature config
    (the default config's features on the real model: tests/features/test_memory.py, test_fast.py)."""
    res = run_cli(workspace, "score", str(DATA / "gsm8k_8.jsonl"), *LIGHT_FLAGS, "--json")
    assert res.returncode == 0, res.stderr[-3000:]
    lines = [l for l in res.stdout.splitlines() if l.strip()]
    assert len(lines) == 1, res.stdout  # exactly one JSON object on stdout
    out = json.loads(lines[0])
    assert {"dataset", "n", "g_vendi", "mode", "dim", "model", "rejected_rows"} <= out.keys()
    assert out["n"] == 8 and out["dim"] == LIGHT_FIELDS["dim"] and out["mode"] == "fast" and out["rejected_rows"] == 0
    assert 1.0 < out["g_vendi"] <= out["dim"]
    assert out["g_vendi"] <= out["n"] + 1e-6  # rank of 8 unit rows bounds the score
    assert out["computed"] == 8

    again = run_cli(workspace, "score", str(DATA / "gsm8k_8.jsonl"), *LIGHT_FLAGS, "--json")
    cached = json.loads(again.stdout)
    assert cached["computed"] == 0 and cached["cached"] == 8
    assert cached["g_vendi"] == pytest.approx(out["g_vendi"], rel=1e-6)


def test_killed_featurisation_resumes_without_recomputing(workspace):
    assert run_cli(workspace, "ingest", str(DATA / "gsm8k_8.jsonl"), "--name", "g8").returncode == 0
    # kill -9 right after a batch was committed (a batch may be one row: --batch-size is a ceiling under the memory
    # budget's token budget, which CI's smaller free memory made one row of the default config)
    assert kill_after_progress(workspace, "features", "g8", "--batch-size", "2", *LIGHT_FLAGS,
                               stage="features") == -signal.SIGKILL

    from core.data.store import Store

    with Store() as store:
        config = light_config()
        present = store.feature_coverage("g8", config.key(), config.dim)
    assert 1 <= present < 8

    res = run_cli(workspace, "features", "g8", "--batch-size", "2", *LIGHT_FLAGS, "--json")
    assert res.returncode == 0, res.stderr[-2000:]
    out = json.loads(res.stdout)
    assert out["n"] == 8 and out["computed"] == 8 - present and out["cached"] == present
    with Store() as store:
        total, distinct = store.query(f"SELECT count(*), count(DISTINCT content_hash) FROM features_d{config.dim}")[0]
    assert total == distinct == 8


def test_bad_input_is_a_clear_error_not_a_traceback(workspace, tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"text": "no shape"}\nnot json\n')
    res = run_cli(workspace, "score", str(bad), "--json")
    assert res.returncode == 2
    assert "no valid rows" in res.stderr and "Traceback" not in res.stderr
    assert res.stdout == ""


def test_demo_command_uses_shipped_features_only_under_their_identity(workspace, tmp_path):
    """`python -m core demo` does what Load demo does: analysed at once from a matching shipped file (no model),
    left unanalysed (and saying so) when the options ask for another identity."""
    from core.analysis.analyse import AnalysisOptions
    from core.data.store import Store
    from tests.analysis.test_demo import fake_shipped

    other = tmp_path / "maker"
    with Store(other / "prism.duckdb") as maker:
        path = fake_shipped(tmp_path, AnalysisOptions(), maker)
    env_extra = {"PRISM_DEMO_FEATURES": str(path)}
    res = run_cli(workspace, "demo", "--json", env_extra=env_extra)
    assert res.returncode == 0, res.stderr[-3000:]
    out = json.loads(res.stdout)
    assert out["shipped"] and out["analysed"] and out["n"] == 300 and out["g_vendi"] > 1

    res = run_cli(workspace, "--workspace", tmp_path / "ws2", "demo", "--mode", "full", "--json", env_extra=env_extra)
    out = json.loads(res.stdout)
    assert res.returncode == 0 and not out["shipped"] and not out["analysed"]


def test_analyse_command_runs_what_the_app_runs(workspace):
    assert run_cli(workspace, "ingest", str(DATA / "gsm8k_8.jsonl"), "--name", "g8").returncode == 0
    res = run_cli(workspace, "analyse", "g8", "--k", "2", "--json", light=True)  # analyse takes no feature options
    assert res.returncode == 0, res.stderr[-3000:]
    out = json.loads(res.stdout)
    assert out["n"] == 8 and out["k"] == 2 and 1 < out["g_vendi"] <= 8 + 1e-6
    assert {"embedding_vendi", "distinct_1", "map_key", "seconds"} <= out.keys()
    assert "gradient features" in res.stderr  # progress goes to stderr, the result alone to stdout
