"""corrupt_modality: the perturbations used for robustness curves."""

from __future__ import annotations

import pytest
import torch

from fusionlab.errors import ConfigError
from fusionlab.corruption import UNK_ID, corrupt_modality
from tests.fusion_zoo_support import single_thread  # noqa: F401  (autouse fixture)


def _batch():
    g = torch.Generator().manual_seed(0)
    ids = torch.randint(4, 50, (6, 10), generator=g)
    lengths = torch.tensor([10, 8, 5, 10, 2, 7])
    mask = torch.arange(10).unsqueeze(0) < lengths.unsqueeze(1)
    ids = ids.masked_fill(~mask, 0)
    feats = torch.randn(6, 10, 4, generator=g) * 3 * mask.unsqueeze(-1)
    return {"text": ids, "image": torch.randn(6, 16, generator=g) * 2, "audio": feats}, mask


def test_zeros_drops_a_fraction_of_samples():
    inputs, _ = _batch()
    out = corrupt_modality(inputs, "image", "zeros", 0.5, torch.Generator().manual_seed(1))
    dropped = (out["image"] == 0).all(dim=1)
    assert int(dropped.sum()) == 3
    assert torch.equal(out["image"][~dropped], inputs["image"][~dropped])
    assert torch.equal(out["text"], inputs["text"])             # other modalities untouched
    full = corrupt_modality(inputs, "audio", "zeros", 1.0)
    assert (full["audio"] == 0).all()
    assert not (inputs["audio"] == 0).all()                      # the input dict was not modified


def test_zeros_on_tokens_replaces_every_real_token_of_dropped_samples():
    inputs, mask = _batch()
    out = corrupt_modality(inputs, "text", "zeros", 1.0, mask=mask)
    assert (out["text"][mask] == UNK_ID).all()
    assert (out["text"][~mask] == 0).all()


def test_gaussian_noise_scales_with_level_and_feature_std():
    inputs, mask = _batch()
    big = {"image": torch.randn(4000, 8) * 5}
    noisy = corrupt_modality(big, "image", "gaussian", 0.2, torch.Generator().manual_seed(0))
    noise = noisy["image"] - big["image"]
    assert abs(float(noise.std()) - 0.2 * float(big["image"].std())) < 0.05
    out = corrupt_modality(inputs, "audio", "gaussian", 0.5, torch.Generator().manual_seed(0), mask=mask)
    assert torch.equal(out["audio"][~mask], inputs["audio"][~mask])   # padded steps untouched
    assert not torch.equal(out["audio"][mask], inputs["audio"][mask])
    same = corrupt_modality(inputs, "audio", "gaussian", 0.0, mask=mask)
    assert torch.equal(same["audio"], inputs["audio"])


def test_gaussian_on_tokens_replaces_the_requested_fraction_reproducibly():
    inputs, mask = _batch()
    a = corrupt_modality(inputs, "text", "gaussian", 0.5, torch.Generator().manual_seed(3), mask=mask)
    b = corrupt_modality(inputs, "text", "gaussian", 0.5, torch.Generator().manual_seed(3), mask=mask)
    assert torch.equal(a["text"], b["text"])
    replaced = (a["text"] == UNK_ID) & (inputs["text"] != UNK_ID)
    expected = torch.round(0.5 * mask.sum(1).float()).long()
    assert torch.equal(replaced.sum(1), expected)
    assert not (replaced & ~mask).any()
    # without a mask, pad ids (0) mark the padding
    c = corrupt_modality(inputs, "text", "gaussian", 1.0)
    assert (c["text"][mask] == UNK_ID).all() and (c["text"][~mask] == 0).all()


@pytest.mark.parametrize("args, match", [
    (("video", "zeros", 0.5), "video"),
    (("image", "blur", 0.5), "blur"),
    (("image", "zeros", 1.5), "level"),
    (("text", "gaussian", 2.0), "level"),
])
def test_bad_arguments_raise_config_errors(args, match):
    inputs, _ = _batch()
    with pytest.raises(ConfigError, match=match):
        corrupt_modality(inputs, *args)


# --- shuffle: incongruent evaluation -------------------------------------------------------------
def _row_sources(new: torch.Tensor, old: torch.Tensor) -> list[int]:
    """For each row of ``new`` the index of the identical row of ``old`` (rows of old are distinct)."""
    flat_new, flat_old = new.reshape(len(new), -1), old.reshape(len(old), -1)
    return [int(torch.nonzero((flat_old == row).all(dim=1))[0]) for row in flat_new]


@pytest.mark.parametrize("batch", [2, 3, 7, 64])
def test_derangement_has_no_fixed_point_and_is_a_permutation(batch):
    from fusionlab.corruption import derangement

    for seed in range(30):
        perm = derangement(batch, torch.Generator().manual_seed(seed))
        assert sorted(perm.tolist()) == list(range(batch))
        assert all(int(p) != i for i, p in enumerate(perm))


def test_shuffle_gives_every_sample_another_samples_features_and_leaves_text_intact():
    inputs, mask = _batch()
    out = corrupt_modality(inputs, "image", "shuffle", 1.0, torch.Generator().manual_seed(4))
    sources = _row_sources(out["image"], inputs["image"])
    assert sorted(sources) == list(range(6))                    # every feature row used once
    assert all(src != i for i, src in enumerate(sources))       # nobody keeps its own
    assert torch.equal(out["text"], inputs["text"])             # text untouched
    assert torch.equal(out["audio"], inputs["audio"])
    again = corrupt_modality(inputs, "image", "shuffle", 1.0, torch.Generator().manual_seed(4))
    assert torch.equal(again["image"], out["image"])            # seeded: reproducible


def test_shuffle_moves_sequence_masks_with_their_features_and_shares_one_permutation():
    from fusionlab.corruption import shuffle_samples

    inputs, mask = _batch()
    masks = {"text": mask, "audio": mask.clone()}
    new, new_masks = shuffle_samples(inputs, masks, ["audio", "image"], 1.0, torch.Generator().manual_seed(2))
    audio_src = _row_sources(new["audio"], inputs["audio"])
    assert audio_src == _row_sources(new["image"], inputs["image"])   # both from the same other sample
    assert all(src != i for i, src in enumerate(audio_src))
    assert torch.equal(new_masks["audio"], mask[torch.tensor(audio_src)])
    assert torch.equal(new_masks["text"], mask) and torch.equal(new["text"], inputs["text"])
    assert torch.equal(masks["audio"], mask)                    # the arguments are not modified


def test_shuffle_level_is_the_fraction_of_deranged_samples():
    inputs = {"image": torch.arange(40.0).view(20, 2)}
    half = corrupt_modality(inputs, "image", "shuffle", 0.5, torch.Generator().manual_seed(0))
    moved = [src != i for i, src in enumerate(_row_sources(half["image"], inputs["image"]))]
    assert sum(moved) == 10
    none = corrupt_modality(inputs, "image", "shuffle", 0.0)
    assert torch.equal(none["image"], inputs["image"])
    single = corrupt_modality({"image": torch.ones(1, 3)}, "image", "shuffle", 1.0)
    assert torch.equal(single["image"], torch.ones(1, 3))       # one sample: nothing to swap with
    with pytest.raises(ConfigError, match="level"):
        corrupt_modality(inputs, "image", "shuffle", 1.5)
