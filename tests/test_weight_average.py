"""``callbacks.weight_average``: the checkpoint holds the exponential moving average of the weights,
written out here as its formula over the weights recorded after every optimizer step:

    ema_1 = w_1,   ema_k = decay * ema_{k-1} + (1 - decay) * w_k

and the weights the run trained (``current_model_state``) for resuming. Off by default."""

from __future__ import annotations

import json

import lightning as L
import torch

from fusionlab.cli import train
from tests.conftest import compose_train

DECAY = 0.9
STEPS = 6


class WeightRecorder(L.Callback):
    """Copies of the trained weights after every optimizer step (``recorded``: one dict per step)."""

    recorded: list[dict[str, torch.Tensor]] = []

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        WeightRecorder.recorded.append({k: v.detach().clone() for k, v in pl_module.state_dict().items()
                                        if v.is_floating_point()})


def run(tmp_path, data_dir, extra: list[str]):
    WeightRecorder.recorded = []
    cfg = compose_train(["dataset=synthetic_mt", "fusion=concat", "logger=none", "callbacks.progress_bar=null",
                         "max_epochs=1", f"trainer.limit_train_batches={STEPS}", "trainer.limit_val_batches=1",
                         "trainer.limit_test_batches=1", "+callbacks.recorder._target_=" + __name__ + ".WeightRecorder",
                         *extra], tmp_path, data_dir)
    train(cfg)
    return torch.load(tmp_path / "checkpoints" / "best.ckpt", map_location="cpu", weights_only=False)


def test_checkpoint_holds_the_moving_average_and_the_trained_weights(tmp_path, data_dir):
    ckpt = run(tmp_path, data_dir, ["callbacks.weight_average={_target_: lightning.pytorch.callbacks."
                                    f"EMAWeightAveraging, decay: {DECAY}}}"])
    steps = WeightRecorder.recorded
    assert len(steps) == STEPS
    ema = dict(steps[0])
    for w in steps[1:]:
        ema = {k: DECAY * ema[k] + (1 - DECAY) * w[k] for k in ema}
    trained = steps[-1]
    moved = 0
    for k, v in ema.items():
        torch.testing.assert_close(ckpt["state_dict"][k], v, rtol=1e-5, atol=1e-6, msg=k)
        torch.testing.assert_close(ckpt["current_model_state"][k], trained[k], rtol=0, atol=0, msg=k)
        moved += not torch.allclose(v, trained[k])
    assert moved > 0  # the average differs from the last weights
    assert json.loads((tmp_path / "metrics.json").read_text())["test/bleu"] >= 0


def test_off_by_default_the_checkpoint_holds_the_trained_weights(tmp_path, data_dir):
    ckpt = run(tmp_path, data_dir, [])
    assert "current_model_state" not in ckpt
    for k, v in WeightRecorder.recorded[-1].items():
        torch.testing.assert_close(ckpt["state_dict"][k], v, rtol=0, atol=0, msg=k)
