"""Gradient features: per-sample loss gradients (response tokens only) of a proxy LM, projected to d unit vectors.

Two modes with the same output (n x d float32, unit rows):
- full: exact per-sample gradient w.r.t. every trainable parameter, one backward per sample, CountSketch to d.
- fast: for each linear layer of the top blocks and the output head, project the layer's inputs (x P_in) and output
  gradients (x P_out) and sum their per-sample outer products over tokens. That equals P_outᵀ G P_in for the layer's
  per-sample weight gradient G (a Kronecker-structured JL projection) without ever forming G, for a whole padded batch
  in one forward/backward with frozen weights. The concatenated sketches go through a small dense JL to d.
"""
from __future__ import annotations

import dataclasses
import threading
from typing import Callable, Sequence

import numpy as np
import torch
import torch.nn.functional as F

from core.config import FeatureConfig
from core.features.projection import CountSketchProjector, DenseGaussianProjector, kronecker_sides

IGNORE = -100
Progress = Callable[[int, int], None]  # (done, total)


@dataclasses.dataclass
class Encoded:
    input_ids: list[int]
    n_prompt: int  # tokens before the first response token
    truncated: bool


@dataclasses.dataclass
class Batch:
    input_ids: torch.Tensor  # (B, T) right-padded
    attention_mask: torch.Tensor  # (B, T)
    labels: torch.Tensor  # (B, T), IGNORE except response tokens
    n_truncated: int = 0


def _chat_text(tokenizer, prompt: str, response: str | None) -> str:
    messages = [{"role": "user", "content": prompt}]
    if response is not None:
        messages.append({"role": "assistant", "content": response})
    return tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=response is None)


def encode_pair(tokenizer, prompt: str, response: str, max_length: int) -> Encoded:
    """Chat-template the pair; everything after the assistant header (incl. the end-of-turn marker) is the response."""
    if getattr(tokenizer, "chat_template", None):
        prefix_text = _chat_text(tokenizer, prompt, None)
        full_text = _chat_text(tokenizer, prompt, response)
        if not full_text.startswith(prefix_text):  # templates that rewrite earlier turns: fall back to plain text
            prefix_text, full_text = prompt + "\n", prompt + "\n" + response
    else:
        prefix_text, full_text = prompt + "\n", prompt + "\n" + response + (tokenizer.eos_token or "")
    prefix = tokenizer(prefix_text, add_special_tokens=False)["input_ids"]
    full = tokenizer(full_text, add_special_tokens=False)["input_ids"]
    n_prompt = len(prefix) if full[: len(prefix)] == prefix else _common_prefix(prefix, full)
    prompt_ids, response_ids = full[:n_prompt], full[n_prompt:]
    truncated = len(full) > max_length
    if truncated:
        # keep the start of the response and as much of the end of the prompt as fits
        response_ids = response_ids[: max_length - min(len(prompt_ids), max_length // 2)]
        prompt_ids = prompt_ids[len(prompt_ids) - (max_length - len(response_ids)):] if prompt_ids else []
    return Encoded(list(prompt_ids) + list(response_ids), len(prompt_ids), truncated)


def _common_prefix(a: Sequence[int], b: Sequence[int]) -> int:
    n = 0
    for x, y in zip(a, b):
        if x != y:
            break
        n += 1
    return n


def collate(items: Sequence[Encoded], pad_id: int) -> Batch:
    length = max(len(e.input_ids) for e in items)
    ids = torch.full((len(items), length), pad_id, dtype=torch.long)
    mask = torch.zeros((len(items), length), dtype=torch.long)
    labels = torch.full((len(items), length), IGNORE, dtype=torch.long)
    for i, e in enumerate(items):
        n = len(e.input_ids)
        ids[i, :n] = torch.tensor(e.input_ids)
        mask[i, :n] = 1
        labels[i, e.n_prompt:n] = ids[i, e.n_prompt:n]
    if (labels[:, 1:] != IGNORE).sum(dim=1).min() == 0:
        raise ValueError("a sample has no response token left to score")
    return Batch(ids, mask, labels, sum(e.truncated for e in items))


def find_blocks(model: torch.nn.Module) -> torch.nn.ModuleList:
    """The transformer's stack of blocks: the longest ModuleList (model.layers for Llama/Qwen, transformer.h, ...)."""
    lists = [m for m in model.modules() if isinstance(m, torch.nn.ModuleList)]
    if not lists:
        raise ValueError("cannot find the transformer blocks of this model")
    return max(lists, key=len)


def _response_positions(batch: Batch) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(sample index, position, target) for every position t whose next token t+1 is a response token."""
    shifted = batch.labels[:, 1:]
    b_idx, t_idx = (shifted != IGNORE).nonzero(as_tuple=True)
    return b_idx, t_idx, shifted[b_idx, t_idx]


def _per_sample_mean_loss(logits: torch.Tensor, targets: torch.Tensor, b_idx: torch.Tensor, batch: int) -> torch.Tensor:
    """Σ_b mean-CE_b: its gradient w.r.t. sample b's activations is exactly the gradient of b's own loss."""
    token_loss = F.cross_entropy(logits.float(), targets, reduction="none")
    counts = torch.bincount(b_idx, minlength=batch).clamp_min(1).to(token_loss.dtype)
    return (token_loss / counts[b_idx]).sum()


class FastFeaturizer:
    """Factored (Kronecker) per-layer gradient sketches of the top blocks + head, in one batched forward/backward."""

    def __init__(self, model: torch.nn.Module, config: FeatureConfig, *, tokenizer=None):
        self.model = model
        self.tokenizer = tokenizer
        self.config = config
        self.blocks = find_blocks(model)
        n_blocks = len(self.blocks) if config.fast_blocks is None else min(config.fast_blocks, len(self.blocks))
        self.first_block = len(self.blocks) - n_blocks
        self.head = model.get_output_embeddings()
        self.layers: list[tuple[str, torch.nn.Linear]] = []
        for i in range(self.first_block, len(self.blocks)):
            for name, module in self.blocks[i].named_modules():
                if isinstance(module, torch.nn.Linear):
                    self.layers.append((f"block{i}.{name}", module))
        self.layers.append(("head", self.head))
        r = config.fast_rank
        self.sides = {name: kronecker_sides(config.seed, name, m.in_features, m.out_features, r)
                      for name, m in self.layers}
        self.raw_dim = len(self.layers) * r * r
        self.final = DenseGaussianProjector(self.raw_dim, config.dim, seed=config.seed, name="fast-final")

    def sketch(self, batch: Batch) -> torch.Tensor:
        """(B, raw_dim) concatenated P_outᵀ G_l P_in per layer l: exact, before the final JL to d."""
        model, r = self.model, self.config.fast_rank
        B = batch.input_ids.shape[0]
        sketches: dict[str, torch.Tensor] = {}
        handles = []
        for p in model.parameters():
            p.requires_grad_(False)

        def make_hook(name: str):
            p_in, p_out = self.sides[name]

            def forward_hook(module, inputs, output):
                x_proj = inputs[0].detach() @ p_in  # (B, T, r)

                def grad_hook(grad):
                    g_proj = grad @ p_out  # (B, T, r)
                    sketches[name] = torch.einsum("btr,bts->brs", g_proj, x_proj).reshape(B, r * r)

                if output.requires_grad:
                    output.register_hook(grad_hook)
            return forward_hook

        def detach_input(module, args, kwargs):
            # the graph starts at the first sketched block: blocks below it run without autograd bookkeeping
            if args:
                return (args[0].detach().requires_grad_(True),) + tuple(args[1:]), kwargs
            kwargs["hidden_states"] = kwargs["hidden_states"].detach().requires_grad_(True)
            return args, kwargs

        try:
            for name, module in self.layers[:-1]:
                handles.append(module.register_forward_hook(make_hook(name)))
            handles.append(self.blocks[self.first_block].register_forward_pre_hook(detach_input, with_kwargs=True))
            with torch.enable_grad():
                hidden = model.get_decoder()(input_ids=batch.input_ids,
                                             attention_mask=batch.attention_mask).last_hidden_state
                b_idx, t_idx, targets = _response_positions(batch)
                h_sel = hidden[b_idx, t_idx]  # logits only where the loss needs them
                logits = self.head(h_sel)
                p_in, p_out = self.sides["head"]
                x_proj = h_sel.detach() @ p_in  # (N, r)

                def head_grad_hook(grad):
                    outer = torch.einsum("nr,ns->nrs", grad @ p_out, x_proj).reshape(-1, r * r)
                    sketches["head"] = torch.zeros(B, r * r, dtype=outer.dtype).index_add_(0, b_idx, outer)

                logits.register_hook(head_grad_hook)
                loss = _per_sample_mean_loss(logits, targets, b_idx, B)
                loss.backward()
        finally:
            for h in handles:
                h.remove()
        return torch.cat([sketches[name] for name, _ in self.layers], dim=1)

    def features(self, batch: Batch) -> np.ndarray:
        return _unit_rows(self.final.project_flat(self.sketch(batch)))


class FullFeaturizer:
    """The exact per-sample gradient of every trainable parameter (one backward per sample), CountSketched to d."""

    def __init__(self, model: torch.nn.Module, config: FeatureConfig, *, tokenizer=None):
        self.model = model
        self.tokenizer = tokenizer
        self.config = config
        self.params = [(n, p) for n, p in model.named_parameters()]  # tied weights appear once
        self.projector = CountSketchProjector(config.dim, seed=config.seed)

    def gradients(self, batch: Batch) -> list[list[tuple[str, torch.Tensor]]]:
        """Per-sample gradients (unpadded, one backward each)."""
        out = []
        for p in self.model.parameters():
            p.requires_grad_(True)
        try:
            for i in range(batch.input_ids.shape[0]):
                n = int(batch.attention_mask[i].sum())
                single = Batch(batch.input_ids[i:i + 1, :n], batch.attention_mask[i:i + 1, :n],
                               batch.labels[i:i + 1, :n])
                b_idx, t_idx, targets = _response_positions(single)
                with torch.enable_grad():
                    hidden = self.model.get_decoder()(input_ids=single.input_ids,
                                                      attention_mask=single.attention_mask).last_hidden_state
                    logits = self.model.get_output_embeddings()(hidden[b_idx, t_idx])
                    loss = _per_sample_mean_loss(logits, targets, b_idx, 1)
                    grads = torch.autograd.grad(loss, [p for _, p in self.params])
                out.append([(name, g.unsqueeze(0)) for (name, _), g in zip(self.params, grads)])
        finally:
            for p in self.model.parameters():
                p.requires_grad_(False)
        return out

    def features(self, batch: Batch) -> np.ndarray:
        rows = [self.projector.project(named) for named in self.gradients(batch)]
        return _unit_rows(torch.cat(rows, dim=0))


def _unit_rows(x: torch.Tensor) -> np.ndarray:
    x = x.detach().to(torch.float64)
    return (x / x.norm(dim=1, keepdim=True).clamp_min(1e-30)).to(torch.float32).numpy()


_MODEL_LOCKS: dict[int, threading.Lock] = {}


def make_featurizer(model: torch.nn.Module, config: FeatureConfig, *, tokenizer=None):
    cls = FastFeaturizer if config.mode == "fast" else FullFeaturizer
    return cls(model, config, tokenizer=tokenizer)


def iter_feature_batches(featurizer, pairs: Sequence[tuple[str, str]], *, batch_size: int = 16):
    """Yield (row indices, unit vectors, truncated count) batch by batch; similar lengths share a batch (less padding).

    One model is driven by one thread at a time (a lock per model), since modes toggle requires_grad on it.
    """
    tok, cfg = featurizer.tokenizer, featurizer.config
    encoded = [encode_pair(tok, p, r, cfg.max_length) for p, r in pairs]
    order = sorted(range(len(encoded)), key=lambda i: len(encoded[i].input_ids))
    lock = _MODEL_LOCKS.setdefault(id(featurizer.model), threading.Lock())
    for start in range(0, len(order), batch_size):
        idx = order[start:start + batch_size]
        batch = collate([encoded[i] for i in idx], tok.pad_token_id)
        with lock:
            vectors = featurizer.features(batch)
        yield idx, vectors, batch.n_truncated


def featurize_pairs(featurizer, pairs: Sequence[tuple[str, str]], *, batch_size: int = 16,
                    progress: Progress | None = None) -> tuple[np.ndarray, int]:
    """Rows in, unit vectors out (same order), with the number of samples truncated to max_length."""
    out = np.zeros((len(pairs), featurizer.config.dim), dtype=np.float32)
    done = truncated = 0
    for idx, vectors, n_trunc in iter_feature_batches(featurizer, pairs, batch_size=batch_size):
        out[idx] = vectors
        done += len(idx)
        truncated += n_trunc
        if progress:
            progress(done, len(pairs))
    return out, truncated
