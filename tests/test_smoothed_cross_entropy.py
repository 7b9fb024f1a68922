"""smoothed_cross_entropy: the label-smoothed cross-entropy and its gradient, written out here from
the definition (and equal to F.cross_entropy(label_smoothing=ε)), through the fused backward."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from fusionlab.nn.smoothed_cross_entropy import (LogitBuffers, linear_smoothed_cross_entropy,
                                                  smoothed_cross_entropy)


def reference(logits: torch.Tensor, target: torch.Tensor, eps: float):
    """loss = mean_i[(1-ε)·(-log p_i[t_i]) + ε·mean_j(-log p_i[j])] and its gradient
    (p_ij - (1-ε)·[j = t_i] - ε/V) / N, in float64."""
    x = logits.double()
    n, v = x.shape
    p = torch.softmax(x, dim=-1)
    logp = torch.log(p)
    loss = ((1 - eps) * -logp[torch.arange(n), target] + eps * -logp.mean(dim=-1)).mean()
    onehot = torch.zeros_like(x)
    onehot[torch.arange(n), target] = 1.0
    return loss, (p - (1 - eps) * onehot - eps / v) / n


def sample(n=37, v=11, seed=0, scale=3.0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, v, generator=g) * scale, torch.randint(0, v, (n,), generator=g)


@pytest.mark.parametrize("eps", [0.0, 0.1, 0.3, 1.0])
def test_value_and_gradient_follow_the_definition(eps):
    logits, target = sample()
    x = logits.clone().requires_grad_(True)
    loss = smoothed_cross_entropy(x, target, eps)
    (2.5 * loss).backward()  # an upstream gradient other than 1 scales the whole gradient
    ref_loss, ref_grad = reference(logits, target, eps)
    torch.testing.assert_close(loss.double(), ref_loss, rtol=1e-6, atol=1e-6)
    torch.testing.assert_close(x.grad.double(), 2.5 * ref_grad, rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("eps", [0.0, 0.1])
def test_equals_pytorchs_cross_entropy_in_value_and_gradient(eps):
    logits, target = sample(n=64, v=50, seed=1)
    a = logits.clone().requires_grad_(True)
    b = logits.clone().requires_grad_(True)
    la, lb = smoothed_cross_entropy(a, target, eps), F.cross_entropy(b, target, label_smoothing=eps)
    la.backward()
    lb.backward()
    torch.testing.assert_close(la, lb)
    torch.testing.assert_close(a.grad, b.grad)


def test_gradcheck_in_float64():
    logits, target = sample(n=6, v=5, seed=2)
    x = logits.double().requires_grad_(True)
    assert torch.autograd.gradcheck(lambda t: smoothed_cross_entropy(t, target, 0.1), (x,))


def test_repeated_target_rows_accumulate():
    """The target term is scattered per row: two rows with the same target both get it."""
    logits = torch.zeros(2, 4, requires_grad=True)
    target = torch.tensor([3, 3])
    smoothed_cross_entropy(logits, target, 0.0).backward()
    # uniform p = 1/4: d/dx = (1/4 - [j = 3]) / 2
    expected = torch.tensor([[0.125, 0.125, 0.125, -0.375]] * 2)
    torch.testing.assert_close(logits.grad, expected)


def test_half_precision_logits_are_scored_in_float32():
    logits, target = sample(n=16, v=9, seed=3)
    x = logits.bfloat16().requires_grad_(True)
    loss = smoothed_cross_entropy(x, target, 0.1)
    assert loss.dtype == torch.float32
    ref_loss, _ = reference(x.detach().float(), target, 0.1)
    torch.testing.assert_close(loss.double(), ref_loss, rtol=1e-6, atol=1e-6)
    loss.backward()
    assert x.grad.dtype == torch.bfloat16


def test_bad_shapes_and_smoothing_are_refused_with_the_reason():
    logits, target = sample(n=4, v=3)
    with pytest.raises(ValueError, match=r"\(N, V\)"):
        smoothed_cross_entropy(logits[None], target, 0.1)
    with pytest.raises(ValueError, match="label_smoothing"):
        smoothed_cross_entropy(logits, target, 1.5)


# --- the output projection fused with the loss, in reusable buffers -----------------------------

def projection_sample(n=29, e=6, v=13, seed=4):
    g = torch.Generator().manual_seed(seed)
    h = torch.randn(n, e, generator=g, dtype=torch.float64)
    w = torch.randn(v, e, generator=g, dtype=torch.float64)
    b = torch.randn(v, generator=g, dtype=torch.float64)
    return h, w, b, torch.randint(0, v, (n,), generator=g)


@pytest.mark.parametrize("with_bias", [True, False])
@pytest.mark.parametrize("eps", [0.0, 0.1])
def test_linear_version_follows_the_definition_over_steps_of_different_sizes(with_bias, eps):
    """Three steps in a row (rows 29, 40, 11) through one LogitBuffers: each loss and the gradient
    of features, weight and bias equal the written-out formula on features @ weight.T + bias."""
    buffers = LogitBuffers()
    for n, seed in ((29, 4), (40, 5), (11, 6)):
        h, w, b, t = projection_sample(n=n, seed=seed)
        b = b if with_bias else None
        params = [x.clone().requires_grad_(True) for x in (h, w) + ((b,) if with_bias else ())]
        loss = linear_smoothed_cross_entropy(params[0], params[1], params[2] if with_bias else None, t,
                                             eps, buffers)
        (1.5 * loss).backward()
        logits = h @ w.T + (b if with_bias else 0.0)
        ref_loss, d_logits = reference(logits, t, eps)
        torch.testing.assert_close(loss, ref_loss)
        torch.testing.assert_close(params[0].grad, 1.5 * d_logits @ w)
        torch.testing.assert_close(params[1].grad, 1.5 * d_logits.T @ h)
        if with_bias:
            torch.testing.assert_close(params[2].grad, 1.5 * d_logits.sum(0))
        assert not buffers.borrowed


def test_buffers_are_reused_and_never_overwritten_before_their_backward():
    """Two losses built before one backward: the second gets fresh tensors, both gradients are
    right, and the buffers go back to the pool after the backward."""
    buffers = LogitBuffers()
    h, w, b, t = projection_sample()
    x = h.clone().requires_grad_(True)
    first = linear_smoothed_cross_entropy(x, w, b, t, 0.1, buffers)
    assert buffers.borrowed
    second = linear_smoothed_cross_entropy(2 * x, w, b, t, 0.1, buffers)
    (first + second).backward()
    ref = h.clone().requires_grad_(True)
    (F.cross_entropy(F.linear(ref, w, b), t, label_smoothing=0.1)
     + F.cross_entropy(F.linear(2 * ref, w, b), t, label_smoothing=0.1)).backward()
    torch.testing.assert_close(x.grad, ref.grad)
    assert not buffers.borrowed


def test_a_graph_dropped_without_backward_gives_the_buffers_back():
    buffers = LogitBuffers()
    h, w, b, t = projection_sample()
    loss = linear_smoothed_cross_entropy(h.requires_grad_(True), w, b, t, 0.1, buffers)
    assert buffers.borrowed
    del loss
    assert not buffers.borrowed


def test_a_second_backward_through_the_graph_is_refused_with_the_way_out():
    h, w, b, t = projection_sample()
    loss = linear_smoothed_cross_entropy(h.requires_grad_(True), w, b, t, 0.1, LogitBuffers())
    loss.backward(retain_graph=True)
    with pytest.raises(RuntimeError, match="buffers=None"):
        loss.backward()


def test_without_gradients_or_buffers_it_is_the_plain_loss():
    h, w, b, t = projection_sample()
    expected, _ = reference(h @ w.T + b, t, 0.1)
    with torch.no_grad():
        torch.testing.assert_close(linear_smoothed_cross_entropy(h, w, b, t, 0.1, LogitBuffers()), expected)
    torch.testing.assert_close(linear_smoothed_cross_entropy(h, w, b, t, 0.1), expected)
