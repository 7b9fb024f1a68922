"""task.scheduler: the schedule shapes, option errors, and that Lightning (automatic optimization)
and the GAN alternation (manual optimization) both step the learning rate once per optimizer step."""

from __future__ import annotations

import io
import math

import lightning as L
import pytest
import torch

from fusionlab.errors import ConfigError
from fusionlab.fusion import build_fusion
from fusionlab.tasks.classification import ClassificationTask
from fusionlab.tasks import schedulers
from fusionlab.tasks.schedulers import (DecayFactor, InverseSqrtFactor, build_scheduler,
                                        check_scheduler_options)
from tests.tiny import TinyEmotionDataModule

LR = 1e-3


def make_task(fusion_name, scheduler=None):
    torch.manual_seed(0)
    dm = TinyEmotionDataModule(n=64, batch_size=8)
    dm.setup()
    task = ClassificationTask(dm.spec.to_dict(), fusion=lambda **kw: build_fusion(fusion_name, **kw), latent_dim=16,
                              optimizer={"lr": LR}, scheduler=scheduler)
    return task, dm


def fit_steps(task, dm, steps: int) -> L.Trainer:
    trainer = L.Trainer(accelerator="cpu", devices=1, max_steps=steps, logger=False,
                        enable_checkpointing=False, enable_progress_bar=False,
                        enable_model_summary=False, limit_val_batches=0, num_sanity_val_steps=0)
    trainer.fit(task, datamodule=dm)
    return trainer


def test_inverse_sqrt_warms_up_linearly_then_decays_as_inverse_sqrt():
    f = InverseSqrtFactor(warmup_steps=4)
    assert [f(s) for s in range(4)] == pytest.approx([0.25, 0.5, 0.75, 1.0])
    assert f(15) == pytest.approx(math.sqrt(4 / 16))
    assert f(99) == pytest.approx(0.2)


def test_cosine_warms_up_then_reaches_min_ratio_at_total_steps_and_stays():
    f = DecayFactor(warmup_steps=2, total_steps=10, min_ratio=0.1, shape="cosine")
    assert f(0) == pytest.approx(0.5)
    assert f(1) == pytest.approx(1.0)
    assert f(5) == pytest.approx(0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * 4 / 8)))
    assert f(9) == pytest.approx(0.1)
    assert f(50) == pytest.approx(0.1)


@pytest.mark.parametrize("options, needle", [
    ({"name": "exponential"}, "task.scheduler.name"),
    ({"name": "inverse_sqrt", "total_minutes": 20}, "total_minutes"),
    ({"name": "linear", "total_minutes": 0}, "total_minutes"),
    ({"name": "inverse_sqrt", "warmup_steps": -1}, "warmup_steps"),
    ({"name": "cosine", "min_lr_ratio": 2.0}, "min_lr_ratio"),
    ({"name": "none", "warmup": 10}, "unknown option"),
])
def test_bad_scheduler_options_raise_config_error(options, needle):
    with pytest.raises(ConfigError, match=needle):
        check_scheduler_options(options)


def test_cosine_without_a_step_count_raises_config_error():
    opt = torch.optim.Adam([torch.nn.Parameter(torch.zeros(1))], lr=LR)
    with pytest.raises(ConfigError, match="total_steps"):
        build_scheduler(opt, {"name": "cosine", "warmup_steps": 10}, estimated_steps=None)


def test_default_is_a_plain_optimizer_without_scheduler():
    task, _ = make_task("concat")
    assert isinstance(task.configure_optimizers(), torch.optim.Adam)


def test_inverse_sqrt_is_stepped_per_optimizer_step_by_lightning():
    task, dm = make_task("concat", {"name": "inverse_sqrt", "warmup_steps": 4})
    optimizers, schedulers = task.configure_optimizers()
    assert schedulers[0]["interval"] == "step"
    trainer = fit_steps(task, dm, steps=6)
    lr = trainer.optimizers[0].param_groups[0]["lr"]
    assert lr == pytest.approx(LR * InverseSqrtFactor(4)(6))


def test_cosine_length_defaults_to_the_trainer_estimate():
    task, dm = make_task("concat", {"name": "cosine", "warmup_steps": 2, "min_lr_ratio": 0.0})
    trainer = fit_steps(task, dm, steps=8)
    # after the last of max_steps=8 steps the factor of step 8 is the end of the cosine: 0
    assert trainer.optimizers[0].param_groups[0]["lr"] == pytest.approx(0.0, abs=1e-12)


def test_gan_manual_optimization_steps_both_schedulers():
    task, dm = make_task("gan", {"name": "inverse_sqrt", "warmup_steps": 10})
    assert task.automatic_optimization is False
    trainer = fit_steps(task, dm, steps=6)  # manual optimization: max_steps counts opt_g+opt_d steps
    expected = LR * InverseSqrtFactor(10)(trainer.fit_loop.epoch_loop.batch_idx + 1)
    lrs = [opt.param_groups[0]["lr"] for opt in trainer.optimizers]
    assert lrs == pytest.approx([expected, expected])
    assert lrs[0] < LR


def test_scheduler_state_loads_with_weights_only():
    opt = torch.optim.Adam([torch.nn.Parameter(torch.zeros(1))], lr=LR)
    sched = build_scheduler(opt, {"name": "inverse_sqrt", "warmup_steps": 3})
    for _ in range(5):
        opt.step()
        sched.step()
    buf = io.BytesIO()
    torch.save(sched.state_dict(), buf)
    buf.seek(0)
    state = torch.load(buf, weights_only=True)
    fresh = build_scheduler(torch.optim.Adam([torch.nn.Parameter(torch.zeros(1))], lr=LR),
                            {"name": "inverse_sqrt", "warmup_steps": 3})
    fresh.load_state_dict(state)
    assert fresh.last_epoch == 5 and fresh.get_last_lr() == pytest.approx(sched.get_last_lr())


def test_cosine_with_an_estimated_run_shorter_than_its_warmup_shrinks_the_warmup():
    # synthetic_mt's default (cosine, warmup 30) under debug=fdr: the Trainer estimates 1 step
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
    sched = build_scheduler(opt, {"name": "cosine", "warmup_steps": 30}, estimated_steps=20)
    assert sched.lr_lambdas[0].warmup_steps == 2          # a tenth of the 20-step run
    assert opt.param_groups[0]["lr"] == pytest.approx(0.5)  # step 0 of a 2-step warmup
    short = build_scheduler(torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0),
                            {"name": "cosine", "warmup_steps": 30}, estimated_steps=1)
    assert short.lr_lambdas[0].warmup_steps == 0


def test_cosine_with_an_explicit_total_below_its_warmup_is_still_an_error():
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
    with pytest.raises(ConfigError, match="total_steps"):
        build_scheduler(opt, {"name": "cosine", "warmup_steps": 30, "total_steps": 20})


def test_linear_warms_up_then_falls_on_a_straight_line_to_min_ratio_at_total_steps():
    f = DecayFactor(warmup_steps=2, total_steps=12, min_ratio=0.2, shape="linear")
    assert f(0) == pytest.approx(0.5)
    assert f(1) == pytest.approx(1.0)
    # step s (0-based) after warmup: progress (s + 1 - 2) / 10, factor 0.2 + 0.8 * (1 - progress)
    assert f(6) == pytest.approx(0.2 + 0.8 * (1 - 5 / 10))
    assert f(11) == pytest.approx(0.2)
    assert f(40) == pytest.approx(0.2)


class FakeClock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


def test_total_minutes_decays_over_wall_clock_time_not_steps(monkeypatch):
    fake = FakeClock()
    monkeypatch.setattr(schedulers, "clock", fake)
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
    sched = build_scheduler(opt, {"name": "linear", "warmup_steps": 2, "total_minutes": 1.0})
    assert opt.param_groups[0]["lr"] == pytest.approx(0.5)         # warmup step 0, t = 0 s
    fake.now += 5.0
    opt.step(), sched.step()                                         # step 1 ends warmup at t = 5 s
    assert opt.param_groups[0]["lr"] == pytest.approx(1.0)
    fake.now += 27.5                                                 # t = 32.5 s: half of the 55 s left
    opt.step(), sched.step()
    assert opt.param_groups[0]["lr"] == pytest.approx(0.5)
    fake.now += 100.0                                                # past the budget: the floor
    opt.step(), sched.step()
    assert opt.param_groups[0]["lr"] == pytest.approx(0.0)


def test_a_resumed_wall_clock_schedule_does_not_count_the_time_it_was_stopped(monkeypatch):
    fake = FakeClock()
    monkeypatch.setattr(schedulers, "clock", fake)
    options = {"name": "cosine", "warmup_steps": 0, "total_minutes": 1.0}
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
    sched = build_scheduler(opt, options)
    fake.now += 30.0
    opt.step(), sched.step()                                         # half the budget: cos(pi/2)
    assert opt.param_groups[0]["lr"] == pytest.approx(0.5)
    buf = io.BytesIO()
    torch.save(sched.state_dict(), buf)
    buf.seek(0)
    state = torch.load(buf, weights_only=True)
    fake.now += 3600.0                                               # an hour before the resume
    opt2 = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
    resumed = build_scheduler(opt2, options)
    resumed.load_state_dict(state)
    fake.now += 15.0                                                 # 45 s of 60 used
    opt2.step(), resumed.step()
    assert opt2.param_groups[0]["lr"] == pytest.approx(0.5 * (1 + math.cos(math.pi * 0.75)))


def test_linear_with_total_minutes_runs_under_lightning_without_a_step_estimate():
    task, dm = make_task("concat", {"name": "linear", "warmup_steps": 2, "total_minutes": 10.0})
    assert task._estimated_steps(task.schedule_options()) is None
    trainer = fit_steps(task, dm, steps=5)
    lr = trainer.optimizers[0].param_groups[0]["lr"]
    assert 0.9 * LR < lr <= LR        # a few steps of a 10-minute budget: barely decayed


def test_total_minutes_max_time_follows_the_trainers_budget_and_falls_back_to_steps_without_one():
    task, dm = make_task("concat", {"name": "linear", "warmup_steps": 0, "total_minutes": "max_time"})
    trainer = L.Trainer(accelerator="cpu", devices=1, max_time="00:00:20:00", max_steps=3, logger=False,
                        enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False,
                        limit_val_batches=0, num_sanity_val_steps=0)
    trainer.fit(task, datamodule=dm)
    factor = trainer.lr_scheduler_configs[0].scheduler.lr_lambdas[0]
    assert factor.total_seconds == pytest.approx(20 * 60, abs=5)
    task, dm = make_task("concat", {"name": "linear", "warmup_steps": 0, "total_minutes": "max_time"})
    trainer = fit_steps(task, dm, steps=4)      # no max_time: over the 4 steps, down to 0
    assert trainer.lr_scheduler_configs[0].scheduler.lr_lambdas[0].total_steps == 4
    assert trainer.optimizers[0].param_groups[0]["lr"] == pytest.approx(0.0, abs=1e-12)
