"""The device and dtype options: they reach the featuriser and the feature identity; a bf16 request on a CPU (or a CUDA
request on a machine without one) is a clear error that writes nothing, never a silent fp32 feature under a bf16 key."""
import pytest
import torch

from core.config import FeatureConfig
from core.features.device import check_dtype, resolve_device
from core.features.gradients import make_featurizer
from tests.helpers import DATA, run_cli


def test_dtype_is_part_of_the_feature_identity_and_device_is_not():
    fp32, bf16 = FeatureConfig(), FeatureConfig(dtype="bfloat16")
    assert fp32.identity()["dtype"] == "float32" and bf16.identity()["dtype"] == "bfloat16"
    assert fp32.key() != bf16.key()  # a bf16 feature never lands under an fp32 key
    assert "device" not in fp32.identity()  # CPU and CUDA fp32 features are one feature
    with pytest.raises(ValueError, match="dtype"):
        FeatureConfig(dtype="float16")


def test_bf16_is_refused_on_a_cpu_and_devices_are_checked():
    with pytest.raises(ValueError, match="CUDA only"):
        check_dtype("bfloat16", "cpu")
    check_dtype("float32", "cpu")
    with pytest.raises(ValueError, match="device must be one of"):
        resolve_device("tpu")
    if not torch.cuda.is_available():
        assert resolve_device("auto") == "cpu"
        with pytest.raises(ValueError, match="no CUDA device"):
            resolve_device("cuda")


def test_the_featuriser_refuses_a_bf16_config_for_a_model_on_the_cpu():
    model = torch.nn.Sequential(torch.nn.Linear(4, 4))  # any module on the CPU: the check is on its parameters
    with pytest.raises(ValueError, match="CUDA only"):
        make_featurizer(model, FeatureConfig(mode="full", dtype="bfloat16"))
    make_featurizer(model, FeatureConfig(mode="full"))  # fp32 on the same model is fine


def test_the_cli_passes_device_and_dtype_through_and_writes_nothing_on_refusal(workspace):
    assert run_cli(workspace, "ingest", str(DATA / "gsm8k_8.jsonl"), "--name", "g8").returncode == 0
    refused = run_cli(workspace, "features", "g8", "--dtype", "bfloat16", "--device", "cpu", "--json")
    assert refused.returncode != 0 and "CUDA only" in refused.stderr and "Traceback" not in refused.stderr
    if not torch.cuda.is_available():
        no_gpu = run_cli(workspace, "features", "g8", "--device", "cuda", "--json")
        assert no_gpu.returncode != 0 and "no CUDA device" in no_gpu.stderr and "Traceback" not in no_gpu.stderr

    from core.data.store import Store

    with Store() as store:
        tables = [t for (t,) in store.query("SELECT table_name FROM duckdb_tables() WHERE table_name LIKE 'features_d%'")]
        stored = sum(store.query(f"SELECT count(*) FROM {t}")[0][0] for t in tables)
    assert stored == 0  # nothing computed under either key (tests/test_cli.py computes these rows on the CPU)
