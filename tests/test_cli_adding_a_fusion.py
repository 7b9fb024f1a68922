"""The README's "Adding a fusion", followed literally: one Python file and one YAML, kept outside the
repository (module on PYTHONPATH, YAML under <dir>/fusion/ found with hydra.searchpath), then
checked like the zoo and trained for one epoch through ``python train.py``."""

from __future__ import annotations

import json

import pytest
import torch
from omegaconf import OmegaConf

from fusionlab.errors import ConfigError
from fusionlab.fusion import Encoded, build_fusion
from tests.cli_support import EMOTION, run_cli, run_folders
from tests.test_fusion_zoo import option_problems

# step 1 of the README: fusionlab/fusion/<name>.py (here: a module outside the package)
EXAMPLE_MODULE = '''
"""Projected mean: z = ReLU(W mean_m v_m + b); auxiliary loss "spread" (how far the modalities lie
from their mean), weighted by fusion.spread_weight."""

from torch import nn

from fusionlab.fusion.base import Encoded, Fusion, FusionOutput


class ProjectedMean(Fusion):
    """vec (B, d_in) per modality -> z (B, d_out); losses {"spread": mean squared distance}."""

    def __init__(self, modalities, d_in: int, d_out: int, *, dropout: float, spread_weight: float):
        super().__init__(modalities, d_in, d_out, loss_weights={"spread": spread_weight})
        self.proj = nn.Sequential(nn.Dropout(dropout), nn.Linear(d_in, d_out), nn.ReLU())

    def forward(self, encoded: dict[str, Encoded]) -> FusionOutput:
        x = self.stacked(encoded)                                   # (B, M, d_in)
        mean = x.mean(dim=1)
        return FusionOutput(z=self.proj(mean), losses={"spread": (x - mean.unsqueeze(1)).pow(2).mean()})
'''

# step 2: conf/fusion/<name>.yaml, the one place the option values are stated
EXAMPLE_YAML = '''# Projected mean of the modality vectors, with a spread penalty.
_target_: projected_mean.ProjectedMean
_partial_: true
dropout: 0.0
spread_weight: 0.1
'''


@pytest.fixture
def example(tmp_path, monkeypatch):
    """(module folder, config folder) holding the example fusion; the module importable here."""
    code, conf = tmp_path / "my_fusions", tmp_path / "my_conf"
    code.mkdir()
    (conf / "fusion").mkdir(parents=True)
    (code / "projected_mean.py").write_text(EXAMPLE_MODULE)
    (conf / "fusion" / "projected_mean.yaml").write_text(EXAMPLE_YAML)
    monkeypatch.syspath_prepend(str(code))
    return code, conf


def test_example_fusion_meets_the_contract_and_its_formula(example):
    _, conf = example
    assert option_problems(OmegaConf.load(conf / "fusion" / "projected_mean.yaml")) == []
    torch.manual_seed(0)
    fusion = build_fusion("projected_mean", ["text", "image"], 4, 3, conf_dir=conf).eval()
    assert fusion.loss_weights == {"spread": 0.1}
    text, image = torch.randn(5, 4), torch.randn(5, 4)
    out = fusion({"text": Encoded(text), "image": Encoded(image)})
    weight, bias = fusion.proj[1].weight.detach(), fusion.proj[1].bias.detach()
    mean = (text + image) / 2
    torch.testing.assert_close(out.z, torch.clamp(mean @ weight.T + bias, min=0))
    torch.testing.assert_close(out.losses["spread"], ((text - mean) ** 2 + (image - mean) ** 2).sum() / 40)
    # an option override, as fusion.spread_weight=0.5 on the command line
    assert build_fusion("projected_mean", ["text", "image"], 4, 3, conf_dir=conf,
                        spread_weight=0.5).loss_weights == {"spread": 0.5}
    with pytest.raises(ConfigError, match="fusion.spread is not an option of fusion=projected_mean"):
        build_fusion("projected_mean", ["text", "image"], 4, 3, conf_dir=conf, spread=0.5)


def test_example_fusion_trains_one_epoch_through_train_py(example, tmp_path):
    code, conf = example
    proc = run_cli("train.py", *EMOTION, "fusion=projected_mean", f"hydra.searchpath=[file://{conf}]",
                   "trainer.max_epochs=1", "logger=none", cwd=tmp_path / "work",
                   env={"PYTHONPATH": str(code)})
    assert proc.returncode == 0, proc.stderr[-3000:]
    (run,) = run_folders(tmp_path / "work")
    assert run.name.endswith("_synthetic_emotion_projected_mean")
    assert OmegaConf.load(run / ".hydra" / "config.yaml").fusion._target_ == "projected_mean.ProjectedMean"
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["params/fusion"] == 16 * 16 + 16          # Linear(latent_dim, latent_dim), latent_dim=16
    assert any(k.startswith("test/") for k in metrics)
    assert metrics["best_model_path"].endswith(".ckpt") and list((run / "checkpoints").glob("*.ckpt"))
