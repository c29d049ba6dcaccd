"""The embedded generator: SmolLM2-135M-Instruct through transformers. Weak, offline, batched, seeded per request."""
from __future__ import annotations

from typing import Sequence

from core.config import DEFAULT_MODEL, stable_hash
from core.data.store import Store
from core.synthesis.generators import Request, RequestCache, Result, unique_requests


class EmbeddedGenerator:
    """The embedded SmolLM2-135M-Instruct via transformers: weak, offline, batched; seeded per request."""

    def __init__(self, store: Store, *, model: str = DEFAULT_MODEL, batch_size: int = 8):
        from core.features.models import resolve_revision

        self.model_id = model
        self.name = model if model.startswith("embedded:") else f"embedded:{model}"
        self.batch_size = batch_size
        self.cache = RequestCache(store, {"backend": "embedded", "model": model, "rev": resolve_revision(model)})

    def generate(self, requests: Sequence[Request]) -> list[Result]:
        distinct, where = unique_requests(requests, self.cache.key)
        results = self._generate(distinct)
        return [results[i] for i in where]

    def _generate(self, requests: Sequence[Request]) -> list[Result]:
        results: list[Result | None] = [self.cache.get(r) for r in requests]
        todo = [i for i, r in enumerate(results) if r is None]
        # same sampling settings share a batch
        todo.sort(key=lambda i: (requests[i].temperature, requests[i].top_p, requests[i].max_tokens))
        for start in range(0, len(todo), self.batch_size):
            chunk = todo[start:start + self.batch_size]
            groups: dict[tuple, list[int]] = {}
            for i in chunk:
                r = requests[i]
                groups.setdefault((r.temperature, r.top_p, r.max_tokens), []).append(i)
            for idx in groups.values():
                for i, text in zip(idx, self._sample([requests[i] for i in idx])):
                    results[i] = Result(text)
                    self.cache.put(requests[i], results[i])
        return results  # type: ignore[return-value]

    def _sample(self, requests: Sequence[Request]) -> list[str]:
        import torch

        from core.features.gradients import lock_for
        from core.features.models import load_model

        loaded = load_model(self.model_id)
        tok = loaded.tokenizer
        with lock_for(tok):  # one tokenizer, shared with the featuriser's threads
            texts = [tok.apply_chat_template([{"role": ro, "content": c} for ro, c in r.messages], tokenize=False,
                                             add_generation_prompt=True) for r in requests]
            tok.padding_side = "left"  # generation continues from the right edge
            try:
                enc = tok(texts, return_tensors="pt", padding=True, add_special_tokens=False)
            finally:
                tok.padding_side = "right"
        r0 = requests[0]
        seed = int(stable_hash([r.payload() for r in requests], length=8), 16)
        with lock_for(loaded.model), torch.no_grad():
            torch.manual_seed(seed)
            out = loaded.model.generate(**enc, do_sample=r0.temperature > 0, temperature=max(r0.temperature, 1e-5),
                                        top_p=r0.top_p, max_new_tokens=r0.max_tokens, pad_token_id=tok.pad_token_id)
        new = out[:, enc["input_ids"].shape[1]:]
        with lock_for(tok):
            return [tok.decode(row, skip_special_tokens=True).strip() for row in new]
