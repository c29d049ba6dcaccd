"""fast mode: a sketch of every parameter's per-sample gradient from ONE batched forward/backward with frozen weights.

What the sketch covers, and how (the full gradient weighs each part by its norm, and so does this: every part is an
unbiased sketch of its own gradient, so inner products add up as they do for the full gradient):
- every linear layer of the sketched blocks: TensorSketch of G = Σ_t g_t x_tᵀ (tensor_sketch.py) to D = sketch_dim,
  from a forward hook (inputs x_t) and a tensor hook on the output (g_t). Layers that read the same input tensor
  (q/k/v, gate/up) share its spectrum: computed once, freed when the last of them has its gradient;
- the output head at response positions, plus, for a tied embedding, the input-embedding term (a lookup is a linear
  map of one-hot inputs) under the same hashes, so the tied matrix's whole gradient is one sketch;
- normalisation weights (RMSNorm / LayerNorm): their per-sample gradient Σ_t dy_t ⊙ x̂_t is small (one vector per
  norm) and taken exactly. They hold ~25-30% of SmolLM2's squared gradient norm: leaving them out biases G-Vendi.
The concatenated parts are CountSketched to `dim` and L2-normalised, like full mode's exact gradient.
"""
from __future__ import annotations

import dataclasses

import numpy as np
import torch

from core.config import FeatureConfig
from core.features.batches import Batch, response_positions
from core.features.device import autocast, check_dtype
from core.features.projection import CountSketchProjector
from core.features.tensor_sketch import CountSketchHash, per_sample_sum, to_sketch


HEAD_CHUNK = 512  # response positions whose logits exist at once (memory: HEAD_CHUNK x vocabulary x ~3 floats)


def find_blocks(model: torch.nn.Module) -> torch.nn.ModuleList:
    """The transformer's stack of blocks: the longest ModuleList (model.layers for Llama/Qwen, transformer.h, ...)."""
    lists = [m for m in model.modules() if isinstance(m, torch.nn.ModuleList)]
    if not lists:
        raise ValueError("cannot find the transformer blocks of this model")
    return max(lists, key=len)


@dataclasses.dataclass
class LinearGroup:
    """Linear layers that read the same input tensor share one input-side hash (and its spectrum)."""

    name: str
    x_hash: CountSketchHash
    members: list[tuple[torch.nn.Linear, CountSketchHash]]  # (layer, output-side hash)
    bias_bucket: tuple[int, float] | None  # where the constant input 1 of the biases lands, and its sign


def _norm_input_scale(module: torch.nn.Module):
    """x -> x̂ (what the norm's weight multiplies), for the norm kinds we know; None for others (not sketched)."""
    if isinstance(module, torch.nn.LayerNorm):
        return lambda x: torch.nn.functional.layer_norm(x, module.normalized_shape, eps=module.eps)
    eps = getattr(module, "variance_epsilon", getattr(module, "eps", None))
    if "RMSNorm" in type(module).__name__ and eps is not None:
        return lambda x: x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps)
    return None


class FastFeaturizer:
    """TensorSketch of the per-sample gradient of every parameter (or of the top `fast_blocks` blocks and the head)."""

    def __init__(self, model: torch.nn.Module, config: FeatureConfig, *, tokenizer=None):
        self.model, self.tokenizer, self.config = model, tokenizer, config
        self.last_losses: np.ndarray | None = None  # each row's mean response loss in the last batch (quality.py)
        self.D = config.sketch_dim
        seed = config.seed
        blocks = find_blocks(model)
        n_blocks = len(blocks) if config.fast_blocks is None else min(config.fast_blocks, len(blocks))
        self.first_block = blocks[len(blocks) - n_blocks]
        self.all_blocks = n_blocks == len(blocks)
        self.head = model.get_output_embeddings()
        self.embedding = model.get_input_embeddings()
        self.tied = self.embedding.weight is self.head.weight
        sketched = list(blocks[len(blocks) - n_blocks:])
        self.groups, self.norms = self._structure(blocks, sketched, seed)
        self.group_of = {layer: g for g in self.groups for layer, _ in g.members}
        hidden, vocab = self.head.in_features, self.head.out_features
        self.head_hashes = (CountSketchHash.seeded(seed, "head:in", hidden, self.D),
                            CountSketchHash.seeded(seed, "head:out", vocab, self.D))
        self.embed_hashes = self.head_hashes if self.tied else (
            CountSketchHash.seeded(seed, "embed:in", hidden, self.D),
            CountSketchHash.seeded(seed, "embed:out", vocab, self.D))
        self.raw_parts = [g.name for g in self.groups] + ["head"] + ([] if self.tied or not self.all_blocks
                                                                     else ["embed"])
        self.final = CountSketchProjector(config.dim, seed=seed)
        self.coverage = self._coverage()
        device = next(model.parameters()).device
        check_dtype(config.dtype, device.type)  # a bf16 feature computed on a CPU would silently be fp32
        self._to_device(device)

    def _to_device(self, device: torch.device) -> None:
        """Hashes are drawn on the CPU from the seed (the same everywhere), then kept where the model runs."""
        for group in self.groups:
            group.x_hash = group.x_hash.to(device)
            group.members = [(m, h.to(device)) for m, h in group.members]
        self.head_hashes = tuple(h.to(device) for h in self.head_hashes)
        self.embed_hashes = self.head_hashes if self.tied else tuple(h.to(device) for h in self.embed_hashes)

    # ---- structure ---------------------------------------------------------------------------------------------

    def _structure(self, blocks, sketched, seed) -> tuple[list[LinearGroup], list[tuple]]:
        """Linear groups and norms of the sketched region, found by one tiny forward with hooks.

        Layers of a block that read the same input tensor form a group; norms count if they sit in a sketched block
        or run after the first sketched block starts (the final norm; embedding norms only when all blocks are in).
        """
        names = {m: n for n, m in self.model.named_modules()}
        unsketched = {m for b in blocks if not any(b is s for s in sketched) for m in b.modules()}
        linears = [m for b in sketched for m in b.modules() if isinstance(m, torch.nn.Linear)]
        norms = [m for m in self.model.modules() if m not in unsketched and _norm_input_scale(m) is not None
                 and getattr(m, "weight", None) is not None]
        order: list[torch.nn.Module] = []
        readers: dict[int, tuple[torch.Tensor, list[torch.nn.Linear]]] = {}  # the tensor is kept: ids stay unique

        def record(mod, inp, out):
            readers.setdefault(id(inp[0]), (inp[0], []))[1].append(mod)

        hooks = [m.register_forward_hook(record) for m in linears]
        hooks += [m.register_forward_pre_hook(lambda mod, inp: order.append(mod)) for m in norms + [sketched[0]]]
        try:
            device = next(self.model.parameters()).device
            with torch.no_grad():
                self.model(input_ids=torch.tensor([[1, 2]], device=device))
        finally:
            for h in hooks:
                h.remove()
        start = order.index(sketched[0])
        in_sketched = {m for b in sketched for m in b.modules()}
        kept = [m for m in norms if m in in_sketched or (self.all_blocks or order.index(m) > start)]
        groups = []
        found = [members for _, members in readers.values()]
        reached = {m for members in found for m in members}
        for members in found + [[m] for m in linears if m not in reached]:
            if len({m.bias is not None for m in members}) > 1:  # a shared constant input needs all members biased
                groups += [self._group([m], names, seed) for m in members]
            else:
                groups.append(self._group(members, names, seed))
        return groups, [(names[m], m, _norm_input_scale(m)) for m in kept]

    def _group(self, members, names, seed) -> LinearGroup:
        name = names[members[0]]
        bias = None
        if members[0].bias is not None:
            extra = CountSketchHash.seeded(seed, f"{name}:bias", 1, self.D)
            bias = (int(extra.buckets[0]), float(extra.signs[0]))
        return LinearGroup(name, CountSketchHash.seeded(seed, f"{name}:in", members[0].in_features, self.D),
                           [(m, CountSketchHash.seeded(seed, f"{names[m]}:out", m.out_features, self.D))
                            for m in members], bias)

    def _coverage(self) -> dict:
        """Which share of the model's parameters the sketch covers (the rest is not part of the feature)."""
        covered = {id(p) for g in self.groups for layer, _ in g.members for p in layer.parameters(recurse=False)}
        covered |= {id(self.head.weight)} | ({id(self.embedding.weight)} if self.all_blocks else set())
        covered |= {id(p) for _, m, _ in self.norms for p in m.parameters(recurse=False)}
        params = {id(p): p.numel() for p in self.model.parameters()}
        return {"parameters": sum(params.values()), "covered": sum(n for i, n in params.items() if i in covered)}

    @property
    def raw_dim(self) -> int:
        return len(self.raw_parts) * self.D + sum(m.weight.numel() for _, m, _ in self.norms)

    # ---- one batch ---------------------------------------------------------------------------------------------

    def sketch(self, batch: Batch) -> list[tuple[str, torch.Tensor]]:
        """The per-sample sketch as named (B, ·) parts: one D-vector per linear group, head, and exact norm grads."""
        model, D = self.model, self.D
        device = self.head.weight.device
        B = batch.input_ids.shape[0]
        ids, mask = batch.input_ids.to(device), batch.attention_mask.to(device)
        acc = {name: torch.zeros(B, D // 2 + 1, dtype=torch.complex64, device=device) for name in self.raw_parts}
        spectra: dict[str, torch.Tensor] = {}
        pending: dict[str, int] = {}
        norm_grads: dict[str, torch.Tensor] = {}
        handles = []
        for p in model.parameters():
            p.requires_grad_(False)

        def linear_hook(layer, inputs, output):
            group = self.group_of[layer]
            if group.name not in spectra:  # the first member to see this input computes its spectrum
                cs = group.x_hash.apply(inputs[0].detach())
                if group.bias_bucket is not None:
                    cs[..., group.bias_bucket[0]] += group.bias_bucket[1]
                spectra[group.name] = torch.fft.rfft(cs, dim=-1)
                pending[group.name] = len(group.members)
            out_hash = next(h for m, h in group.members if m is layer)

            def grad_hook(grad):
                acc[group.name] += per_sample_sum(spectra[group.name], out_hash.spectrum(grad))
                pending[group.name] -= 1
                if pending[group.name] == 0:
                    del spectra[group.name]  # free it as soon as the last reader has its gradient

            if output.requires_grad:
                output.register_hook(grad_hook)

        def norm_hook_for(name, scale):
            def norm_hook(module, inputs, output):
                x_hat = scale(inputs[0].detach().to(torch.float32))

                def grad_hook(grad):
                    norm_grads[name] = (grad.to(torch.float32) * x_hat).sum(dim=1)
                if output.requires_grad:
                    output.register_hook(grad_hook)
            return norm_hook

        def embedding_hook(module, inputs, output):
            leaf = output.detach().requires_grad_(True)
            x_hash, out_hash = self.embed_hashes
            target = "head" if self.tied else "embed"

            def grad_hook(grad):  # the lookup's gradient: one-hot(token) ⊗ ∂loss/∂embedding, per position
                acc[target] += per_sample_sum(x_hash.spectrum(grad), out_hash.one_hot_spectrum(ids))
            leaf.register_hook(grad_hook)
            return leaf

        def detach_input(module, args, kwargs):
            # backward stops at the first sketched block: blocks below it run without autograd bookkeeping
            if args:
                return (args[0].detach().requires_grad_(True),) + tuple(args[1:]), kwargs
            kwargs["hidden_states"] = kwargs["hidden_states"].detach().requires_grad_(True)
            return args, kwargs

        try:
            for layer in self.group_of:
                handles.append(layer.register_forward_hook(linear_hook))
            for name, module, scale in self.norms:
                handles.append(module.register_forward_hook(norm_hook_for(name, scale)))
            if self.all_blocks:
                handles.append(self.embedding.register_forward_hook(embedding_hook))
            else:
                handles.append(self.first_block.register_forward_pre_hook(detach_input, with_kwargs=True))
            with torch.enable_grad(), autocast(device.type, self.config.dtype):
                hidden = model.get_decoder()(input_ids=ids, attention_mask=mask).last_hidden_state
                b_idx, t_idx, targets = (t.to(device) for t in response_positions(batch))
                h_sel = hidden[b_idx, t_idx]  # logits only where the loss needs them
                # the head a chunk of positions at a time: (positions x vocabulary) logits, their softmax and their
                # gradient at 4,096 positions were ~2.4 GB; a chunk's are freed before the next is made. Each chunk
                # backpropagates to a detached copy of the hidden states; their summed gradient then goes through
                # the blocks once.
                h_leaf = h_sel.detach().requires_grad_(True)
                counts = torch.bincount(b_idx, minlength=B).clamp_min(1).to(torch.float32)
                losses = torch.zeros(B, dtype=torch.float32, device=device)
                for start in range(0, len(b_idx), HEAD_CHUNK):
                    part = slice(start, start + HEAD_CHUNK)
                    rows = b_idx[part]
                    logits = self.head(h_leaf[part])
                    x_spec = self.head_hashes[0].spectrum(h_leaf[part].detach())

                    def head_grad_hook(grad, x_spec=x_spec, rows=rows):
                        prod = x_spec * self.head_hashes[1].spectrum(grad)
                        acc["head"] += torch.zeros_like(acc["head"]).index_add_(0, rows, prod)

                    logits.register_hook(head_grad_hook)
                    token_loss = torch.nn.functional.cross_entropy(logits.float(), targets[part], reduction="none")
                    chunk = torch.zeros(B, dtype=torch.float32, device=device).index_add_(0, rows,
                                                                                         token_loss / counts[rows])
                    chunk.sum().backward()
                    losses += chunk.detach()
                    del logits, token_loss, chunk, x_spec
                h_sel.backward(h_leaf.grad)
                self.last_losses = losses.cpu().numpy().astype(np.float32)
        finally:
            for h in handles:
                h.remove()
        parts = [(name, to_sketch(acc[name], D)) for name in self.raw_parts]
        parts += [(name, norm_grads[name]) for name, _, _ in self.norms]
        return parts

    def features(self, batch: Batch) -> np.ndarray:
        from core.features.gradients import unit_rows

        return unit_rows(self.final.project(self.sketch(batch)))
