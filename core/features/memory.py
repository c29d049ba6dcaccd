"""The featuriser's memory budget: what one batch needs, the token budget that fits, and refusal up front.

A batch's memory is linear in its padded tokens (measured on SmolLM2-135M, bench/featurize.py --memory): what
autograd keeps for the backward through frozen blocks (~1.6 MB per token: about 2.6 floats per linear output of
every block), plus, in fast mode, the TensorSketch spectra and norm inputs held from forward to backward (~0.75 MB
per token at width 512). The attention's share does not grow with the sequence (PyTorch's SDPA keeps no T x T
weights), so tokens alone, not rows x length², set the need. The output head works on fixed chunks of response
positions (fast.HEAD_CHUNK), a constant. A loss-only pass (no gradient) keeps ~0.15 MB per token.

    need(tokens) = base + tokens x per_token

`base` is what the process already holds when the plan is made (its RSS, model loaded) plus the head chunk. The
budget (`--max-memory`) defaults to a share of what the machine has available now, at most 2 GiB on a CPU: the
batch former then picks the largest token budget whose need fits it. A row longer than that runs alone. A job is
refused up front, before any row is computed, when one row of max_length tokens would not fit even alone within
what it may use (the explicit --max-memory, else the memory available): never OOM-killed halfway through.
"""
from __future__ import annotations

import dataclasses
import os

import torch

GiB = 1 << 30
MiB = 1 << 20
CPU_DEFAULT_CAP = 2 * GiB  # the default budget on a CPU: two featurisers fit an 8 GB laptop
AVAILABLE_SHARE = 0.5  # the default budget's share of the memory available when the job starts
MARGIN = 1.15  # per-token estimates are fitted to measurements; the margin covers allocator slack
ACTIVATION_FLOATS_PER_OUTPUT = 2.6  # floats autograd keeps per linear output, per token (fitted on SmolLM2)
SKETCH_BYTES_PER_GROUP_BIN = 24  # fast mode: bytes per token per spectrum bin held (complex64 + transients, fitted)
FORWARD_BYTES_PER_OUTPUT = 6.0  # a no-grad forward's transient bytes per linear output per token (fitted)
MIN_TOKENS, MAX_TOKENS = 16, 16384


class MemoryBudgetError(MemoryError):
    """The job cannot fit in the memory it may use; the message says what it needs and what to change."""


@dataclasses.dataclass(frozen=True)
class MemoryModel:
    """need(tokens) = base + tokens x per_token, in bytes."""

    base: int
    per_token: int
    what: str  # "features (fast)", "losses", ...

    def need(self, tokens: int) -> int:
        return self.base + tokens * self.per_token

    def tokens_within(self, budget: int) -> int:
        return max(0, (budget - self.base) // max(self.per_token, 1))


def parse_size(text: str | int | None) -> int | None:
    """'2G', '1500M', '2GiB', '0.5g', or bytes -> bytes; None/'' -> None (the default budget)."""
    if text is None or text == "":
        return None
    if isinstance(text, int):
        return text
    s = str(text).strip().lower().replace("ib", "").rstrip("b")
    unit = {"k": 1 << 10, "m": MiB, "g": GiB, "t": 1 << 40}.get(s[-1:], 1)
    number = s[:-1] if unit != 1 else s
    try:
        value = float(number)
    except ValueError:
        raise ValueError(f"not a memory size: {text!r} (examples: 2G, 1500M)") from None
    if not value > 0 or value != value or value == float("inf"):
        raise ValueError(f"a memory size must be positive: {text!r}")
    return int(value * unit)


def available_bytes() -> int:
    """Memory the machine can give now (MemAvailable; a cgroup limit when lower)."""
    avail = None
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    avail = int(line.split()[1]) * 1024
    except OSError:
        pass
    if avail is None:
        avail = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_AVPHYS_PAGES")
    for path in ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"):
        try:
            limit = open(path).read().strip()
            used_path = path.replace("memory.max", "memory.current").replace("limit_in_bytes", "usage_in_bytes")
            if limit.isdigit():
                avail = min(avail, int(limit) - int(open(used_path).read().strip()))
        except (OSError, ValueError):
            continue
    return max(avail, 0)


def process_rss() -> int:
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except OSError:
        import resource

        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def _linear_outputs(model: torch.nn.Module) -> tuple[int, int, int]:
    """(sum of linear outputs over the blocks, over the sketched part's groups' spectra count, vocabulary)."""
    from core.features.fast import find_blocks

    blocks = find_blocks(model)
    outputs = sum(m.out_features for b in blocks for m in b.modules() if isinstance(m, torch.nn.Linear))
    head = model.get_output_embeddings()
    vocab = head.out_features if head is not None else 0
    return outputs, len(blocks), vocab


def memory_model(featurizer=None, *, model=None, config=None, kind: str = "features") -> MemoryModel:
    """The memory model of a featuriser (kind 'features') or of the loss-only pass (kind 'losses') on `model`."""
    from core.features import fast

    model = model if model is not None else featurizer.model
    config = config if config is not None else getattr(featurizer, "config", None)
    outputs, n_blocks, vocab = _linear_outputs(model)
    width = 2 if str(getattr(config, "dtype", "float32")) in ("bfloat16", "float16") else 4
    head = fast.HEAD_CHUNK * vocab * 4 * 3  # logits, their softmax and gradient for one chunk of positions
    if kind == "losses":
        per_token = FORWARD_BYTES_PER_OUTPUT * outputs / n_blocks * width  # one block's transients at a time
        per_token += 4 * 4 * getattr(model.config, "hidden_size", 0)
        return MemoryModel(process_rss() + head, int(per_token * MARGIN), "losses")
    per_token = ACTIVATION_FLOATS_PER_OUTPUT * outputs * width
    groups = getattr(featurizer, "groups", None)
    if getattr(config, "mode", "fast") == "fast":
        n_groups = len(groups) if groups is not None else 4 * n_blocks
        per_token += n_groups * (config.sketch_dim // 2 + 1) * SKETCH_BYTES_PER_GROUP_BIN
        base = process_rss() + head
    else:  # full mode: every parameter's gradient of one row at a time, and its projection's transients
        per_token *= 1.3  # weights need their inputs kept too
        base = process_rss() + 3 * sum(p.numel() for p in model.parameters()) * 4
    return MemoryModel(int(base), int(per_token * MARGIN), f"features ({getattr(config, 'mode', 'fast')})")


def default_budget(device: str = "cpu") -> int:
    """A share of the memory available now on top of what the process holds, at most 2 GiB on a CPU."""
    if str(device).startswith("cuda") and torch.cuda.is_available():
        free, _ = torch.cuda.mem_get_info()
        return int(torch.cuda.memory_allocated() + 0.8 * free)
    return int(min(CPU_DEFAULT_CAP, process_rss() + AVAILABLE_SHARE * available_bytes()))


def token_budget(mm: MemoryModel, *, max_length: int, max_memory: int | None = None, device: str = "cpu") -> int:
    """The padded tokens per batch that fit the budget; refuses (MemoryBudgetError) when one max_length row could
    not fit in what the job may use."""
    budget = max_memory if max_memory is not None else default_budget(device)
    limit = max_memory if max_memory is not None else (
        budget if str(device).startswith("cuda") else process_rss() + available_bytes())
    if mm.need(max_length) > limit:
        raise MemoryBudgetError(
            f"{mm.what}: one row of {max_length} tokens needs about {mm.need(max_length) / GiB:.2f} GiB "
            f"({mm.base / GiB:.2f} GiB held + {mm.per_token / MiB:.2f} MiB per token), more than the "
            f"{limit / GiB:.2f} GiB it may use ({'--max-memory' if max_memory is not None else 'available now'}); "
            "raise --max-memory, lower --max-length, or free memory")
    return int(min(MAX_TOKENS, max(MIN_TOKENS, mm.tokens_within(budget))))


def describe(mm: MemoryModel, tokens: int) -> dict:
    """What a job says it needs (progress messages, --json)."""
    return {"what": mm.what, "tokens_per_batch": tokens, "need_gib": round(mm.need(tokens) / GiB, 3),
            "per_token_mib": round(mm.per_token / MiB, 3), "base_gib": round(mm.base / GiB, 3)}
