"""From (prompt, response) text to padded token batches whose labels mask everything but the response.

The sample is the chat template with user = prompt and assistant = response; the loss is the mean cross-entropy over
the response tokens (the assistant turn including its end-of-turn marker), one loss per sample.
"""
from __future__ import annotations

import dataclasses
from typing import Sequence

import torch
import torch.nn.functional as F

IGNORE = -100


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


def response_positions(batch: Batch) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(sample index, position, target) for every position t whose next token t+1 is a response token."""
    shifted = batch.labels[:, 1:]
    b_idx, t_idx = (shifted != IGNORE).nonzero(as_tuple=True)
    return b_idx, t_idx, shifted[b_idx, t_idx]


def per_sample_losses(logits: torch.Tensor, targets: torch.Tensor, b_idx: torch.Tensor, batch: int) -> torch.Tensor:
    """(B,) each sample's mean cross-entropy over its response tokens (nats per token)."""
    token_loss = F.cross_entropy(logits.float(), targets, reduction="none")
    counts = torch.bincount(b_idx, minlength=batch).clamp_min(1).to(token_loss.dtype)
    return torch.zeros(batch, dtype=token_loss.dtype, device=token_loss.device).index_add_(0, b_idx,
                                                                                           token_loss / counts[b_idx])


def per_sample_mean_loss(logits: torch.Tensor, targets: torch.Tensor, b_idx: torch.Tensor, batch: int) -> torch.Tensor:
    """Σ_b mean-CE_b: its gradient w.r.t. sample b's activations is exactly the gradient of b's own loss."""
    return per_sample_losses(logits, targets, b_idx, batch).sum()
