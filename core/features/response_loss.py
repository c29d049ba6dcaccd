"""The quality pass's model part: each row's mean response loss under the proxy, given its prompt and given none.

The loss given the prompt comes free with the feature pass (the featurisers keep it, store.write_features stores it
with the vectors); this pass adds the loss of the response alone (the same chat template with an empty user turn),
one forward pass without gradients over a shorter input, so a row's IFD = loss(response | prompt) / loss(response
alone) costs a fraction of its feature (bench/quality.py measures it). Rows whose features were computed before the
feature pass kept its loss get that loss here too. Both commit batch by batch: a killed pass resumes with the rest.
"""
from __future__ import annotations

from typing import Callable, Sequence

import numpy as np
import torch

from core.data.store import Store
from core.progress import Cancelled, ProgressFn

CHUNK_ROWS = 4096


def loss_tokens(model, max_length: int, max_batch_tokens: int | None = None, max_memory: int | None = None) -> int:
    """The loss pass's token budget: the one given, else the most a forward without gradients fits in the budget."""
    from core.features.memory import memory_model, token_budget

    if max_batch_tokens is not None and max_memory is None:
        return max_batch_tokens
    device = next(model.parameters()).device.type
    tokens = token_budget(memory_model(model=model, config=None, kind="losses"), max_length=max_length,
                          max_memory=max_memory, device=device)
    return min(tokens, max_batch_tokens) if max_batch_tokens is not None else tokens


def response_losses(model, tokenizer, pairs: Sequence[tuple[str, str]], *, max_length: int,
                    max_batch_tokens: int | None = None, batch_size: int | None = 16, max_memory: int | None = None):
    """Yield (row indices, mean response loss of each) batch by batch, forward only (rows sorted by length); the
    head runs on chunks of response positions (its logits at 4,096 positions would be ~2.4 GB)."""
    from core.features.batches import collate, response_positions
    from core.features.fast import HEAD_CHUNK
    from core.features.gradients import encode_all, lock_for, plan_batches

    max_batch_tokens = loss_tokens(model, max_length, max_batch_tokens, max_memory)

    encoded = encode_all(tokenizer, pairs, max_length)
    device = next(model.parameters()).device
    for idx in plan_batches([len(e.input_ids) for e in encoded], max_batch_tokens=max_batch_tokens,
                            max_rows=batch_size):
        batch = collate([encoded[i] for i in idx], tokenizer.pad_token_id)
        with lock_for(model), torch.no_grad():
            hidden = model.get_decoder()(input_ids=batch.input_ids.to(device),
                                         attention_mask=batch.attention_mask.to(device)).last_hidden_state
            b_idx, t_idx, targets = (t.to(device) for t in response_positions(batch))
            sums = torch.zeros(len(idx), dtype=torch.float32, device=device)
            for start in range(0, len(b_idx), HEAD_CHUNK):
                part = slice(start, start + HEAD_CHUNK)
                logits = model.get_output_embeddings()(hidden[b_idx[part], t_idx[part]])
                token_loss = torch.nn.functional.cross_entropy(logits.float(), targets[part], reduction="none")
                sums.index_add_(0, b_idx[part], token_loss)
            counts = torch.bincount(b_idx, minlength=len(idx)).clamp_min(1).to(torch.float32)
            losses = sums / counts
        yield idx, losses.float().cpu().numpy()


def compute_losses(store: Store, dataset: str, config, *, device: str = "auto", max_batch_tokens: int | None = None,
                   max_memory: int | None = None, batch_size: int | None = 16, progress: ProgressFn | None = None,
                   should_cancel: Callable[[], bool] | None = None, loaded=None) -> dict:
    """The losses the quality read needs that the store does not hold yet: {"loss": n, "loss_alone": n} computed.
    Imported feature sets have no model: nothing to compute (the quality read then uses the text signals only)."""

    if getattr(config, "mode", "") == "imported":
        return {"loss": 0, "loss_alone": 0}
    key = store.register_config(config)
    todo = {kind: store.missing_loss_hashes(dataset, key, kind) for kind in ("loss", "loss_alone")}
    total = sum(len(v) for v in todo.values())
    done = {"loss": 0, "loss_alone": 0}
    if not total:
        return done
    from core.features.gradients import load_checked

    loaded = load_checked(config, device, loaded)
    max_batch_tokens = loss_tokens(loaded.model, config.max_length, max_batch_tokens, max_memory)
    if progress:
        progress(0, total)
    for kind, hashes in todo.items():
        for start in range(0, len(hashes), CHUNK_ROWS):
            chunk = hashes[start:start + CHUNK_ROWS]
            texts = store.texts_by_hash(chunk)
            pairs = [(texts[h][0] if kind == "loss" else "", texts[h][1]) for h in chunk]
            for idx, values in response_losses(loaded.model, loaded.tokenizer, pairs, max_length=config.max_length,
                                               max_batch_tokens=max_batch_tokens, batch_size=batch_size):
                store.write_losses(key, [chunk[i] for i in idx], kind, values)
                done[kind] += len(idx)
                if progress:
                    progress(sum(done.values()), total)
                if should_cancel and should_cancel() and sum(done.values()) < total:
                    raise Cancelled(f"cancelled after {sum(done.values())} of {total} quality rows (kept)")
    return done


def candidate_losses_alone(store: Store, featurizer, hashes: list[str], responses: list[str]) -> dict[str, float]:
    """loss_alone of synthesis/pool candidates (cached by content hash under the run's feature config)."""
    config = featurizer.config
    key = config.key()
    found = {h: v[1] for h, v in store.losses_by_hash(key, hashes).items() if v[1] is not None}
    todo = [i for i, h in enumerate(hashes) if h not in found]
    if todo:
        values = np.zeros(len(todo), dtype=np.float32)
        for idx, losses in response_losses(featurizer.model, featurizer.tokenizer, [("", responses[i]) for i in todo],
                                           max_length=config.max_length):
            values[idx] = losses
        store.write_losses(key, [hashes[i] for i in todo], "loss_alone", values)
        found.update({hashes[i]: float(v) for i, v in zip(todo, values)})
    return found
