"""Where features are computed and in which precision.

The device is not part of a feature's identity: fp32 on a CPU and fp32 on a GPU compute the same sketch up to
rounding (bench/gpu.py measures the row-by-row cosine). The dtype is: bf16 compute (autocast; the sketches, the norm
gradients and the final projection are still accumulated in fp32) gives other numbers, so a bf16 feature never mixes
with an fp32 one. bf16 is offered on CUDA only; asked for on a CPU it is an error, never a silent fallback.
"""
from __future__ import annotations

import contextlib

DEVICES = ("auto", "cpu", "cuda")
DTYPES = ("float32", "bfloat16")


def resolve_device(device: str | None) -> str:
    import torch

    device = device or "auto"
    if device not in DEVICES and not device.startswith("cuda:"):
        raise ValueError(f"device must be one of {', '.join(DEVICES)} (or cuda:N), not {device!r}")
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ValueError("device 'cuda' was asked for, but this machine has no CUDA device torch can use")
    return device


def check_dtype(dtype: str, device: str) -> None:
    if dtype not in DTYPES:
        raise ValueError(f"dtype must be one of {', '.join(DTYPES)}, not {dtype!r}")
    if dtype == "bfloat16" and not device.startswith("cuda"):
        raise ValueError("bfloat16 features are computed on CUDA only: on this device use dtype float32 "
                         "(a bf16 feature is a different feature, so there is no silent fallback)")


def autocast(device: str, dtype: str):
    """bf16 compute on CUDA (matmuls and activations), a no-op for fp32."""
    if dtype != "bfloat16":
        return contextlib.nullcontext()
    import torch

    return torch.autocast(device_type="cuda", dtype=torch.bfloat16)
