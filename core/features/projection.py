"""Seeded random (JL) projections behind one interface: CountSketch (the product's) and dense Rademacher (the paper's).

Every projector is a fixed linear map determined by (seed, shapes, dim) alone, so the same gradient always lands on the
same vector, and two processes with the same identity agree bit for bit on the same hardware.
"""
from __future__ import annotations

import hashlib
from typing import Protocol, Sequence

import torch


def sub_seed(seed: int, name: str) -> int:
    """A per-tensor seed derived from the global seed and a stable name (not Python's salted hash())."""
    digest = hashlib.sha256(f"{seed}:{name}".encode()).digest()
    return int.from_bytes(digest[:8], "little") & ((1 << 63) - 1)


def _generator(seed: int, name: str) -> torch.Generator:
    g = torch.Generator(device="cpu")
    g.manual_seed(sub_seed(seed, name))
    return g


class Projector(Protocol):
    """Maps a sample's gradient, given as named tensors in a fixed order, to a dim-vector; batched over dim 0."""

    dim: int

    def project(self, named_grads: Sequence[tuple[str, torch.Tensor]]) -> torch.Tensor:
        """named_grads: (name, tensor of shape (B, *param_shape)) -> (B, dim)."""
        ...


class CountSketchProjector:
    """Sparse JL (CountSketch, one ±1 per coordinate): E<Sa,Sb> = <a,b>, with the dense-JL variance up to O(1/d).

    Why: a dense Rademacher map of a 135M-dim gradient costs ~276 GFLOP per sample on a CPU, more than the backward;
    CountSketch costs one signed scatter-add per coordinate. Buckets and signs are drawn once per tensor and kept.
    """

    def __init__(self, dim: int, seed: int = 0):
        self.dim = dim
        self.seed = seed
        self._tables: dict[str, tuple[torch.Tensor, torch.Tensor]] = {}

    def _table(self, name: str, numel: int, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
        """Drawn on the CPU from the seed (the same on every device), then kept on the device that uses it."""
        table = self._tables.get(name)
        if table is None or table[0].numel() != numel:
            g = _generator(self.seed, "countsketch:" + name)
            buckets = torch.randint(0, self.dim, (numel,), generator=g, dtype=torch.int64)
            signs = torch.randint(0, 2, (numel,), generator=g, dtype=torch.int8).mul_(2).sub_(1)
            table = (buckets, signs)
        if table[0].device != device:
            table = (table[0].to(device), table[1].to(device))
        self._tables[name] = table
        return table

    def project(self, named_grads: Sequence[tuple[str, torch.Tensor]]) -> torch.Tensor:
        """Accumulated in fp32 on the gradients' device."""
        batch, device = named_grads[0][1].shape[0], named_grads[0][1].device
        out = torch.zeros(batch, self.dim, dtype=torch.float32, device=device)
        for name, grad in named_grads:
            flat = grad.reshape(batch, -1).to(torch.float32)
            buckets, signs = self._table(name, flat.shape[1], device)
            out.index_add_(1, buckets, flat * signs)
        return out


class DenseRademacherProjector:
    """The paper's projector (TRAK's CPU path): ±1/√dim entries, generated block by block once per batch.

    Exact JL, but costs 2·P·dim FLOP per sample plus P·dim random signs per batch: a reference, not the default.
    """

    def __init__(self, dim: int, seed: int = 0, block_rows: int = 1 << 16):
        self.dim = dim
        self.seed = seed
        self.block_rows = block_rows

    def project(self, named_grads: Sequence[tuple[str, torch.Tensor]], *, fraction: float = 1.0) -> torch.Tensor:
        """fraction < 1 projects only the first part of each tensor (for timing a slice of the full cost)."""
        batch = named_grads[0][1].shape[0]
        out = torch.zeros(batch, self.dim, dtype=torch.float32)
        scale = 1.0 / self.dim**0.5
        for name, grad in named_grads:
            flat = grad.reshape(batch, -1).to(torch.float32)
            stop = max(1, int(flat.shape[1] * fraction))
            g = _generator(self.seed, "rademacher:" + name)
            for start in range(0, stop, self.block_rows):
                rows = min(self.block_rows, stop - start)
                block = torch.randint(0, 2, (rows, self.dim), generator=g, dtype=torch.int8)
                block = block.to(torch.float32).mul_(2).sub_(1)
                out.addmm_(flat[:, start:start + rows], block, alpha=scale)
        return out
