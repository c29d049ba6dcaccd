"""Gradient features: per-sample loss gradients (response tokens only) of a proxy LM, projected to d unit vectors.

Two modes with the same output (n x d float32, unit rows):
- full: the exact per-sample gradient of every parameter, one backward per sample, CountSketched to d (the reference).
- fast: a sketch of the same gradient from one batched forward/backward with frozen weights (fast.py): TensorSketch
  of every linear layer's weight gradient, the tied embedding/head, and the norms' weight gradients taken exactly.

Batches are formed by a token budget (rows sorted by length, so a batch pads little) and tokenised window by window,
so the first batch starts at once and a cancel between batches takes effect quickly whatever the dataset's size.
"""
from __future__ import annotations

import threading
from typing import Callable, Iterator, Sequence

import numpy as np
import torch

from core.config import FeatureConfig
from core.features import unit
from core.features.batches import Batch, Encoded, collate, encode_pair, per_sample_losses, response_positions
from core.features.device import autocast, check_dtype
from core.features.projection import CountSketchProjector

Progress = Callable[[int, int], None]  # (done, total)
DEFAULT_MAX_BATCH_TOKENS = None  # padded tokens per batch: None = the most that fit the memory budget (memory.py)
TOKENIZE_WINDOW = 512  # rows tokenised (and sorted by length) at a time


class FullFeaturizer:
    """The exact per-sample gradient of every trainable parameter (one backward per sample), CountSketched to d."""

    def __init__(self, model: torch.nn.Module, config: FeatureConfig, *, tokenizer=None):
        self.model = model
        self.tokenizer = tokenizer
        self.config = config
        self.params = [(n, p) for n, p in model.named_parameters()]  # tied weights appear once
        check_dtype(config.dtype, next(model.parameters()).device.type)
        self.projector = CountSketchProjector(config.dim, seed=config.seed)
        self.last_losses: np.ndarray | None = None  # each row's mean response loss in the last batch (quality.py)

    def gradients(self, batch: Batch) -> list[list[tuple[str, torch.Tensor]]]:
        """Per-sample gradients (unpadded, one backward each), all of them (tests and benches)."""
        return list(self.iter_gradients(batch))

    def iter_gradients(self, batch: Batch) -> Iterator[list[tuple[str, torch.Tensor]]]:
        """Per-sample gradients one at a time: one row's gradient (the model's size) is held at once."""
        losses = []
        device = next(self.model.parameters()).device
        for p in self.model.parameters():
            p.requires_grad_(True)
        try:
            for i in range(batch.input_ids.shape[0]):
                n = int(batch.attention_mask[i].sum())
                single = Batch(batch.input_ids[i:i + 1, :n], batch.attention_mask[i:i + 1, :n],
                               batch.labels[i:i + 1, :n])
                b_idx, t_idx, targets = (t.to(device) for t in response_positions(single))
                with torch.enable_grad(), autocast(device.type, self.config.dtype):
                    hidden = self.model.get_decoder()(input_ids=single.input_ids.to(device),
                                                      attention_mask=single.attention_mask.to(device)
                                                      ).last_hidden_state
                    logits = self.model.get_output_embeddings()(hidden[b_idx, t_idx])
                    loss = per_sample_losses(logits, targets, b_idx, 1).sum()
                    grads = torch.autograd.grad(loss, [p for _, p in self.params])
                losses.append(float(loss.detach()))
                yield [(name, g.unsqueeze(0)) for (name, _), g in zip(self.params, grads)]
                del grads
        finally:
            for p in self.model.parameters():
                p.requires_grad_(False)
        self.last_losses = np.asarray(losses, dtype=np.float32)

    def features(self, batch: Batch) -> np.ndarray:
        rows = [self.projector.project(named) for named in self.iter_gradients(batch)]
        return unit_rows(torch.cat(rows, dim=0))


def unit_rows(x: torch.Tensor) -> np.ndarray:
    """A batch's feature rows (a tensor) as float32 unit rows: core.features.unit.unit_rows (scaled in float64, as
    before), so a zero or NaN gradient is refused here, naming its row, not stored to break every score later."""
    return unit.unit_rows(x.detach().to(torch.float64).cpu().numpy(), dtype=np.float64).astype(np.float32)


# One model is driven by one thread at a time (fast/full toggle requires_grad on its weights), and a Hugging Face
# fast tokenizer is not safe to call from several threads at once ("Unable to create tensor" under load).
_MODEL_LOCKS: dict[int, threading.Lock] = {}
_LOCKS_LOCK = threading.Lock()


def lock_for(obj) -> threading.Lock:
    with _LOCKS_LOCK:
        return _MODEL_LOCKS.setdefault(id(obj), threading.Lock())


def make_featurizer(model: torch.nn.Module, config: FeatureConfig, *, tokenizer=None):
    from core.features.fast import FastFeaturizer

    cls = FastFeaturizer if config.mode == "fast" else FullFeaturizer
    return cls(model, config, tokenizer=tokenizer)


def load_checked(config: FeatureConfig, device: str = "auto", loaded=None):
    """The config's model on the device (`loaded` when given), its dtype allowed there and its revision the config's:
    features computed by other weights must never be filed under this config's key."""
    from core.features.device import check_dtype, resolve_device
    from core.features.models import load_model

    device = resolve_device(device)
    check_dtype(config.dtype, device)
    loaded = loaded or load_model(config.model, device=device)
    if loaded.revision != config.model_revision:
        raise RuntimeError(f"model revision changed: loaded {loaded.revision}, config has {config.model_revision} "
                           "(the model files differ from the ones the features were keyed to)")
    return loaded


def featurizer_for(config: FeatureConfig, device: str = "auto", loaded=None):
    """(featurizer, loaded model) for the config: the one way every caller (the local engine, Ray workers, the
    synthesis loop, the estimate) loads, checks and builds."""
    loaded = load_checked(config, device, loaded)
    return make_featurizer(loaded.model, config, tokenizer=loaded.tokenizer), loaded


def plan_batches(lengths: Sequence[int], *, max_batch_tokens: int, max_rows: int | None = None) -> list[list[int]]:
    """Indices grouped into batches whose padded size (rows x longest) stays within the token budget.

    Rows are taken shortest first, so a batch holds rows of similar length; a row longer than the budget gets a
    batch of its own (it cannot be split)."""
    order = sorted(range(len(lengths)), key=lambda i: lengths[i])
    batches: list[list[int]] = []
    current: list[int] = []
    for i in order:
        longest = max([lengths[j] for j in current] + [lengths[i]])
        if current and ((len(current) + 1) * longest > max_batch_tokens or (max_rows and len(current) >= max_rows)):
            batches.append(current)
            current = []
        current.append(i)
    if current:
        batches.append(current)
    return batches


def encode_all(tokenizer, pairs: Sequence[tuple[str, str]], max_length: int) -> list[Encoded]:
    with lock_for(tokenizer):
        return [encode_pair(tokenizer, p, r, max_length) for p, r in pairs]


def batch_tokens(featurizer, max_batch_tokens: int | None = None, max_memory: int | None = None) -> int:
    """The token budget of a featuriser's batches: the one given, else the most that fit the memory budget (refused,
    MemoryBudgetError, when one max_length row could not fit at all)."""
    from core.features.memory import memory_model, token_budget

    if not isinstance(getattr(featurizer, "model", None), torch.nn.Module):  # a test's fake: nothing to budget
        return max_batch_tokens or 4096
    device = next(featurizer.model.parameters()).device.type
    mm = memory_model(featurizer)
    tokens = token_budget(mm, max_length=featurizer.config.max_length, max_memory=max_memory, device=device)
    if max_batch_tokens is None:
        return tokens
    return min(max_batch_tokens, tokens) if max_memory is not None else max_batch_tokens


def iter_feature_batches(featurizer, pairs: Sequence[tuple[str, str]], *, batch_size: int | None = None,
                         max_batch_tokens: int | None = DEFAULT_MAX_BATCH_TOKENS, max_memory: int | None = None
                         ) -> Iterator[tuple[list[int], np.ndarray, int, np.ndarray]]:
    """Yield (row indices, unit vectors, truncated count, each row's mean response loss) batch by batch.

    Rows are tokenised a window at a time (windows ordered by text length, so the batches of one window pad little);
    batch_size caps the rows per batch on top of the token budget (memory.py picks it when none is given)."""
    tok, cfg = featurizer.tokenizer, featurizer.config
    max_batch_tokens = batch_tokens(featurizer, max_batch_tokens, max_memory)
    by_chars = sorted(range(len(pairs)), key=lambda i: len(pairs[i][0]) + len(pairs[i][1]))
    lock = lock_for(featurizer.model)
    for w in range(0, len(by_chars), TOKENIZE_WINDOW):
        window = by_chars[w:w + TOKENIZE_WINDOW]
        encoded = encode_all(tok, [pairs[i] for i in window], cfg.max_length)
        for local in plan_batches([len(e.input_ids) for e in encoded], max_batch_tokens=max_batch_tokens,
                                  max_rows=batch_size):
            batch = collate([encoded[i] for i in local], tok.pad_token_id)
            with lock:
                vectors = featurizer.features(batch)
                losses = featurizer.last_losses
            yield [window[i] for i in local], vectors, batch.n_truncated, losses


def featurize_pairs(featurizer, pairs: Sequence[tuple[str, str]], *, batch_size: int | None = None,
                    max_batch_tokens: int | None = DEFAULT_MAX_BATCH_TOKENS, progress: Progress | None = None,
                    losses: np.ndarray | None = None, max_memory: int | None = None) -> tuple[np.ndarray, int]:
    """Rows in, unit vectors out (same order), with the number of samples truncated to max_length; `losses`, when
    given (n,), receives each row's mean response loss from the same pass."""
    out = np.zeros((len(pairs), featurizer.config.dim), dtype=np.float32)
    done = truncated = 0
    for idx, vectors, n_trunc, batch_losses in iter_feature_batches(featurizer, pairs, batch_size=batch_size,
                                                                    max_batch_tokens=max_batch_tokens,
                                                                    max_memory=max_memory):
        out[idx] = vectors
        if losses is not None:
            losses[idx] = batch_losses
        done += len(idx)
        truncated += n_trunc
        if progress:
            progress(done, len(pairs))
    return out, truncated
