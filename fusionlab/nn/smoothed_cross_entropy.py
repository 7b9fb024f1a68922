"""Label-smoothed cross-entropy over (N, V) logits, with a fused backward and, for the output
projection of a translation model, reusable logit buffers.

Same value and gradient as ``F.cross_entropy(logits, target, label_smoothing=eps)`` (mean over the
N rows):

    loss = mean_i [ (1 - eps) * -log p_i[t_i] + eps * mean_j -log p_i[j] ],   p_i = softmax(logits_i)
    dloss/dlogits_ij = (p_ij - (1 - eps) * [j == t_i] - eps / V) / N

torch computes the backward as several separate passes over the (N, V) tensor (the NLL term's
zero-filled gradient, the smoothing term's broadcast, their sum, then log_softmax's backward);
this one writes softmax * scale - constant in three passes and scatters the target term. With
V = 8000 those passes were 9% + 5% + 4% + 4% of the multi30k_text training step (copy_, fill_,
add, log_softmax backward; scripts/bench/step_profile.py).

:func:`linear_smoothed_cross_entropy` also takes the output projection (features @ weight.T + bias)
into the same function, so the logits, their log-softmax and the gradient live in two (N, V)
buffers of a :class:`LogitBuffers` that the next step reuses. Each (N, V) tensor is ~100 MB in the
multi30k_text recipe, above glibc's mmap threshold: allocated fresh, every step pays for ~25k page
faults per tensor (half the CPU time was system time).
"""

from __future__ import annotations

import torch
from torch import Tensor


def _check(n_rows: int, target: Tensor, eps: float, what: str) -> None:
    if target.shape != (n_rows,):
        raise ValueError(f"{what}: target must be ({n_rows},) for {n_rows} rows, got {tuple(target.shape)}")
    if not 0.0 <= eps <= 1.0:
        raise ValueError(f"label_smoothing must be in [0, 1], got {eps}")


def _loss_from_log_p(log_p: Tensor, target: Tensor, eps: float) -> Tensor:
    nll = -log_p.gather(1, target[:, None]).mean()
    return (1.0 - eps) * nll - eps * log_p.mean() if eps else nll


def _grad_into(out: Tensor, log_p: Tensor, target: Tensor, eps: float, grad_out: Tensor) -> Tensor:
    """out (N, V) <- d loss / d logits · grad_out (``out`` may be a buffer other than log_p)."""
    n, v = log_p.shape
    scale = grad_out / n
    torch.exp(log_p, out=out).mul_(scale)
    if eps:
        out.sub_(scale * (eps / v))
    picked = (-(1.0 - eps) * scale).to(out.dtype).expand(n, 1)
    return out.scatter_add_(1, target[:, None], picked)


class _SmoothedCrossEntropy(torch.autograd.Function):
    @staticmethod
    def forward(ctx, logits: Tensor, target: Tensor, eps: float) -> Tensor:
        log_p = torch.log_softmax(logits, dim=-1)
        ctx.save_for_backward(log_p, target)
        ctx.eps = eps
        return _loss_from_log_p(log_p, target, eps)

    @staticmethod
    def backward(ctx, grad_out: Tensor):
        log_p, target = ctx.saved_tensors
        return _grad_into(torch.empty_like(log_p), log_p, target, ctx.eps, grad_out), None, None


def _float32(x: Tensor) -> Tensor:
    return x.float() if x.dtype in (torch.float16, torch.bfloat16) else x


def smoothed_cross_entropy(logits: Tensor, target: Tensor, label_smoothing: float = 0.0) -> Tensor:
    """logits (N, V) float, target (N,) long -> scalar: the mean label-smoothed cross-entropy.

    Half-precision logits are scored in float32 (as autocast does for ``F.cross_entropy``)."""
    if logits.dim() != 2:
        raise ValueError(f"smoothed_cross_entropy: logits must be (N, V), got {tuple(logits.shape)}")
    _check(logits.shape[0], target, label_smoothing, "smoothed_cross_entropy")
    logits = _float32(logits)
    with torch.autocast(logits.device.type, enabled=False):
        return _SmoothedCrossEntropy.apply(logits, target, float(label_smoothing))


class LogitBuffers:
    """Two (rows, V) buffers that one training step's loss at a time borrows (logits / gradient
    and log-softmax), grown to the largest batch seen. A step whose previous graph still holds
    them (no backward yet) gets fresh tensors instead, so a borrowed buffer is never overwritten
    before the backward that reads it."""

    def __init__(self):
        self._buffers: tuple[Tensor, Tensor] | None = None
        self.borrowed = False

    def borrow(self, rows: int, like: Tensor, vocab: int) -> tuple[tuple[Tensor, Tensor], bool]:
        """((rows, V) buffer, (rows, V) buffer) and whether they are this object's (to give back)."""
        if self.borrowed:
            return (like.new_empty(rows, vocab), like.new_empty(rows, vocab)), False
        b = self._buffers
        if b is None or b[0].shape[0] < rows or b[0].shape[1] != vocab or b[0].dtype != like.dtype \
                or b[0].device != like.device:
            self._buffers = b = (like.new_empty(rows, vocab), like.new_empty(rows, vocab))
        self.borrowed = True
        return (b[0][:rows], b[1][:rows]), True

    def give_back(self) -> None:
        self.borrowed = False

    def __getstate__(self):  # never pickled or copied with their contents (checkpoints, DDP)
        return {"_buffers": None, "borrowed": False}


class _Loan:
    """Gives the buffers back when the graph holding it is freed, with or without a backward."""

    def __init__(self, buffers: LogitBuffers | None):
        self.buffers = buffers

    def end(self) -> None:
        if self.buffers is not None:
            self.buffers.give_back()
            self.buffers = None

    def __del__(self):
        self.end()


class _LinearSmoothedCrossEntropy(torch.autograd.Function):
    @staticmethod
    def forward(ctx, features: Tensor, weight: Tensor, bias: Tensor | None, target: Tensor,
                eps: float, buffers: LogitBuffers) -> Tensor:
        n, v = features.shape[0], weight.shape[0]
        (logits, log_p), owned = buffers.borrow(n, features, v)
        if bias is None:
            torch.mm(features, weight.t(), out=logits)
        else:
            torch.addmm(bias, features, weight.t(), out=logits)
        torch.log_softmax(logits, dim=-1, out=log_p)
        ctx.save_for_backward(features, weight, target)
        ctx.eps, ctx.has_bias = eps, bias is not None
        ctx.log_p, ctx.grad_buffer = log_p, logits  # the logits' buffer takes the gradient
        ctx.loan = _Loan(buffers if owned else None)
        return _loss_from_log_p(log_p, target, eps)

    @staticmethod
    def backward(ctx, grad_out: Tensor):
        features, weight, target = ctx.saved_tensors
        if ctx.log_p is None:
            raise RuntimeError("linear_smoothed_cross_entropy: a second backward through the same "
                               "graph; its logit buffers go back after the first (retain_graph), "
                               "so pass buffers=None to backpropagate twice")
        grad = _grad_into(ctx.grad_buffer, ctx.log_p, target, ctx.eps, grad_out)
        need = ctx.needs_input_grad
        d_features = grad @ weight if need[0] else None
        d_weight = grad.t() @ features if need[1] else None
        d_bias = grad.sum(0) if ctx.has_bias and need[2] else None
        ctx.log_p = ctx.grad_buffer = None
        ctx.loan.end()
        return d_features, d_weight, d_bias, None, None, None


def linear_smoothed_cross_entropy(features: Tensor, weight: Tensor, bias: Tensor | None,
                                  target: Tensor, label_smoothing: float = 0.0,
                                  buffers: LogitBuffers | None = None) -> Tensor:
    """features (N, e), weight (V, e), bias (V,) or None, target (N,) long -> scalar:
    ``smoothed_cross_entropy(features @ weight.T + bias, target, label_smoothing)``, the logits
    held in ``buffers`` (fresh ones when None or without gradients)."""
    if features.dim() != 2 or weight.dim() != 2 or features.shape[1] != weight.shape[1]:
        raise ValueError(f"linear_smoothed_cross_entropy: features must be (N, e) and weight (V, e), "
                         f"got {tuple(features.shape)} and {tuple(weight.shape)}")
    _check(features.shape[0], target, label_smoothing, "linear_smoothed_cross_entropy")
    if buffers is None or not torch.is_grad_enabled():
        logits = torch.nn.functional.linear(features, weight, bias)
        return smoothed_cross_entropy(logits, target, label_smoothing)
    with torch.autocast(features.device.type, enabled=False):
        f, w = _float32(features), _float32(weight)
        b = None if bias is None else _float32(bias)
        return _LinearSmoothedCrossEntropy.apply(f, w, b, target, float(label_smoothing), buffers)
