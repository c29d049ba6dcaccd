"""Explicit configuration: frozen dataclasses whose hash is the cache key of every result they shape."""
from __future__ import annotations

import dataclasses
import hashlib
import json
import os
from pathlib import Path

# Bump when a change to the code changes the features a config produces: old cached rows then stop matching.
# 2: fast mode became a TensorSketch of every parameter's gradient (was: Kronecker sketches of the top 15 blocks).
FEATURE_CODE_VERSION = 2

DEFAULT_MODEL = "embedded:smollm2-135m-instruct"

# The fewest rows with features an analysis can map (clusters and a 2-D layout): ingest warns below it, the Gradient
# space page says so instead of starting an analysis that would fail.
MIN_MAP_ROWS = 3


def stable_hash(payload: object, *, length: int = 16) -> str:
    """sha256 of the canonical JSON form of payload (sorted keys), truncated."""
    text = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:length]


@dataclasses.dataclass(frozen=True)
class FeatureConfig:
    """Everything that changes a gradient feature. batch_size is absent on purpose: it changes speed, not values."""

    model: str = DEFAULT_MODEL
    model_revision: str = ""  # filled in from the loaded model (file hash or hub commit)
    mode: str = "fast"  # "fast" (factored per-layer sketch) or "full" (exact per-sample gradient + CountSketch)
    dim: int = 1024
    seed: int = 0
    max_length: int = 1024
    # fast mode: how many of the top transformer blocks are sketched (None = all, the default: the lower blocks and
    # the embedding hold much of the gradient, bench/fidelity.py), and the TensorSketch width per layer group
    fast_blocks: int | None = None
    sketch_dim: int = 512
    dtype: str = "float32"  # compute precision (features/device.py); bfloat16 on CUDA only

    def __post_init__(self) -> None:
        if self.mode not in ("fast", "full"):
            raise ValueError(f"mode must be 'fast' or 'full', not {self.mode!r}")
        if self.dim < 2:
            raise ValueError("dim must be at least 2")
        if self.max_length < 8:
            raise ValueError("max_length must be at least 8")
        if self.dtype not in ("float32", "bfloat16"):
            raise ValueError(f"dtype must be float32 or bfloat16, not {self.dtype!r}")
        if self.sketch_dim < 8 or self.sketch_dim & (self.sketch_dim - 1):
            raise ValueError("sketch_dim must be a power of two (FFT size), at least 8")

    def identity(self) -> dict:
        """The fields that define the projection; full mode ignores the fast-only knobs."""
        d = dataclasses.asdict(self)
        if self.mode == "full":
            d.pop("fast_blocks")
            d.pop("sketch_dim")
        d["code_version"] = FEATURE_CODE_VERSION
        return d

    def key(self) -> str:
        return stable_hash(self.identity())


def workspace_dir() -> Path:
    """PRISM_HOME, else ./workspace; created on demand."""
    path = Path(os.environ.get("PRISM_HOME", "workspace")).expanduser().resolve()
    path.mkdir(parents=True, exist_ok=True)
    return path
