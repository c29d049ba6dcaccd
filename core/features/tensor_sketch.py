"""TensorSketch of per-sample weight gradients, computed from a layer's inputs and output-gradients (never forming G).

For a linear layer y_t = W x_t, a sample's weight gradient is G = Σ_t g_t x_tᵀ (g_t = ∂loss/∂y_t, summed over its
tokens). With two CountSketches C_in: R^in -> R^D and C_out: R^out -> R^D (one bucket and one ±1 sign per
coordinate, seeded per layer name),

    TS(G) = Σ_t C_out(g_t) ⊛ C_in(x_t) = irfft( Σ_t rfft(C_out g_t) ⊙ rfft(C_in x_t) )        (⊛: circular convolution)

is exactly the CountSketch of vec(G) under the pair hash (i, j) -> h_out(i) + h_in(j) mod D with sign
s_out(i)·s_in(j) (Pham & Pagh 2013). So E<TS(G), TS(G')> = <G, G'>, with the variance of a CountSketch to D whatever
G's rank. That matters here: a Kronecker sketch P_outᵀ G P_in of rank r has the variance of a JL map to only ~r
dimensions when G is low-rank and the inputs of different samples are aligned, which is what per-sample gradients of
short answers look like (few response tokens, hidden states sharing large common directions).
Cost per token and layer: one scatter-add per coordinate plus two FFTs of size D, against in·out for the layer's own
matmul.

An embedding lookup is a linear layer with one-hot inputs: C_out(e_v) = s(v)·e_{h(v)}, so its term is a signed cyclic
shift, i.e. a phase exp(-2πi k h(v) / D) in the Fourier domain. A tied embedding/head matrix shares one pair of
hashes for both uses, so the two terms add up to the sketch of the tied parameter's whole gradient.
"""
from __future__ import annotations

import dataclasses
import math

import torch

from core.features.projection import sub_seed


@dataclasses.dataclass(frozen=True)
class CountSketchHash:
    """One bucket in [0, D) and one ±1 sign per input coordinate."""

    buckets: torch.Tensor  # (n,) int64
    signs: torch.Tensor  # (n,) float32
    dim: int

    @classmethod
    def seeded(cls, seed: int, name: str, n: int, dim: int) -> "CountSketchHash":
        g = torch.Generator(device="cpu")
        g.manual_seed(sub_seed(seed, "tensorsketch:" + name))
        buckets = torch.randint(0, dim, (n,), generator=g, dtype=torch.int64)
        signs = torch.randint(0, 2, (n,), generator=g, dtype=torch.int64).mul_(2).sub_(1).to(torch.float32)
        return cls(buckets, signs, dim)

    def to(self, device: torch.device | str) -> "CountSketchHash":
        return CountSketchHash(self.buckets.to(device), self.signs.to(device), self.dim)

    def apply(self, x: torch.Tensor) -> torch.Tensor:
        """(..., n) -> (..., D), in fp32 whatever x's dtype (sketches are accumulated in fp32)."""
        flat = x.reshape(-1, x.shape[-1]).to(torch.float32)
        out = torch.zeros(flat.shape[0], self.dim, dtype=torch.float32, device=flat.device)
        out.index_add_(1, self.buckets, flat * self.signs)
        return out.reshape(*x.shape[:-1], self.dim)

    def spectrum(self, x: torch.Tensor) -> torch.Tensor:
        """rfft of the CountSketch: (..., n) -> (..., D // 2 + 1) complex."""
        return torch.fft.rfft(self.apply(x), dim=-1)

    def one_hot_spectrum(self, index: torch.Tensor) -> torch.Tensor:
        """rfft of C(e_i) = s(i)·e_{h(i)} for each index: a signed phase ramp, (...,) -> (..., D // 2 + 1)."""
        k = torch.arange(self.dim // 2 + 1, device=index.device, dtype=torch.float32)
        angle = (-2.0 * math.pi / self.dim) * self.buckets[index].to(torch.float32).unsqueeze(-1) * k
        return torch.polar(self.signs[index].unsqueeze(-1).expand_as(angle), angle)


def per_sample_sum(spectrum_x: torch.Tensor, spectrum_g: torch.Tensor) -> torch.Tensor:
    """Σ_t over the token axis of rfft(C_in x_t) ⊙ rfft(C_out g_t): (B, T, F) x (B, T, F) -> (B, F)."""
    return (spectrum_x * spectrum_g).sum(dim=1)


def to_sketch(spectrum_sum: torch.Tensor, dim: int) -> torch.Tensor:
    """Back from the Fourier domain: (B, F) complex -> (B, D) real."""
    return torch.fft.irfft(spectrum_sum, n=dim, dim=-1)
