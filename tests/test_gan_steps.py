"""GAN-Fusion's alternating optimization: the discriminator step moves only discriminator weights,
the generator/task step moves none of them (and does move the generator)."""

from __future__ import annotations

import torch

from fusionlab.fusion import build_fusion
from fusionlab.tasks.classification import ClassificationTask
from tests.tiny import TinyEmotionDataModule


def make_task():
    torch.manual_seed(0)
    dm = TinyEmotionDataModule()
    dm.setup()
    task = ClassificationTask(dm.spec.to_dict(), fusion=lambda **kw: build_fusion("gan", **kw), latent_dim=16)
    batch = dm.train_dataloader().collate_fn([dm.splits["train"][i] for i in range(16)])
    return task, batch


def snapshot(params):
    return [p.detach().clone() for p in params]


def changed(before, params):
    return [not torch.equal(b, p.detach()) for b, p in zip(before, params)]


def test_task_switches_to_manual_optimization_with_two_optimizers():
    task, _ = make_task()
    assert task.automatic_optimization is False
    opt_g, opt_d = task.configure_optimizers()
    d_ids = {id(p) for p in task.fusion.discriminator_parameters()}
    g_ids = {id(p) for g in opt_g.param_groups for p in g["params"]}
    assert d_ids == {id(p) for g in opt_d.param_groups for p in g["params"]}
    assert not d_ids & g_ids
    assert len(d_ids) + len(g_ids) == len(list(task.parameters()))


def test_discriminator_step_changes_only_discriminator_weights():
    task, batch = make_task()
    opt_g, opt_d = task.configure_optimizers()
    d_params = task.fusion.discriminator_parameters()
    d_ids = {id(p) for p in d_params}
    others = [p for p in task.parameters() if id(p) not in d_ids]
    terms, out, encoded = task.losses(batch)
    before_d, before_o = snapshot(d_params), snapshot(others)
    opt_d.zero_grad()
    task.fusion.discriminator_loss(encoded, out).backward()
    # the discriminator loss must not even produce gradients outside the discriminator
    assert all(p.grad is None or not p.grad.any() for p in others)
    opt_d.step()
    assert all(changed(before_d, d_params))
    assert not any(changed(before_o, others))


def test_generator_step_changes_no_discriminator_weight():
    task, batch = make_task()
    opt_g, opt_d = task.configure_optimizers()
    d_params = task.fusion.discriminator_parameters()
    gen_params = [p for h in task.fusion.heads.values() for p in h.generator.parameters()]
    before_d, before_g = snapshot(d_params), snapshot(gen_params)
    terms, out, encoded = task.losses(batch)
    assert set(terms) >= {"task", "recon", "adv_g", "total"}
    opt_g.zero_grad()
    terms["total"].backward()
    opt_g.step()
    assert not any(changed(before_d, d_params))
    assert any(changed(before_g, gen_params))


def test_discriminator_loss_recomputes_without_forward_output():
    task, batch = make_task()
    encoded = task.encode(batch)
    task.fusion.eval()
    a = task.fusion.discriminator_loss(encoded)
    b = task.fusion.discriminator_loss(encoded, task.fusion(encoded))
    assert torch.allclose(a, b)
