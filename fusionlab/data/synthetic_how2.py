"""``synthetic_how2``: an embedded How2-layout translation task that needs both video and speech.

Sentences follow ``synthetic_mt``'s grammar (an English scene description; a made-up but
consistent target language, stored as ``pt``) whose target states two facts the source never
mentions: the COLOUR of the subject, carried only by the video features, and the COUNT of subjects
(which also inflects the verb), carried only by the speech features::

    en: the dog runs quickly on the wet grass at night
    pt: gebar peri rurol vomo burotis busofen dekur molasta ginal terepan
        (three[speech] green[video] dog quickly on wet grass run-TRIAL at night)

- video: ``features/resnext101-action-avgpool-300h/{split}.npy`` (N, 2048) float32, a fixed random
  projection of one-hot [colour | noun] plus Gaussian noise (std ``noise``);
- speech: 43-d "fbank+pitch" Kaldi matrices of 12-24 frames: a per-speaker offset and scale
  (which per-speaker CMVN removes) plus ``signal`` × u_count on the first half of the frames and
  −``signal`` × u_count on the second half (u_count: a fixed random unit direction per count), plus
  N(0, 1) noise. The pattern has zero mean over a segment, so the speaker's CMVN statistics never
  carry (or erase) the count; a sequence encoder reads it from the contrast between the halves.

Speakers are videos (2-5 segments each), as in How2. Segment ids are ``<video id>_<n>`` with
11-character video ids that contain ``-`` and ``_``.

Ceilings (:func:`bleu_ceilings`, sacreBLEU, default test split dev5 of 300 segments,
``data_seed=1234``): text only (most frequent count and colour of train) **50.0 BLEU**; text +
video (true colour, guessed count) 68.6; text + speech (true count, guessed colour) 73.4; all three
100. Measured with the dataset defaults (seed 1): ``fusion=text_only`` 49.1 BLEU, ``fusion=concat`` 77.4
(so it reads both: 32.9 with video and speech shuffled between samples).

Layout (``data_dir`` is the ``how2-300h-v1`` folder; :func:`generate` writes it)::

    data/{train,val,dev5}/id, text.{en,pt}, text.id.{en,pt}, segments, utt2spk, spk2utt,
                          feats.scp, cmvn.scp                (ark paths written as ARK_PATH/...)
    features/fbank_pitch_181506/raw_fbank_pitch_all_181506.{1,2,3}.ark   (one per split)
    features/fbank_pitch_181506/cmvn_all_181506.ark          (CMVN stats of every speaker)
    features/resnext101-action-avgpool-300h/{train,val,dev5}.npy
    synthetic_how2.json                                      (the generation options)

and is read back by :class:`fusionlab.data.how2.How2DataModule`.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import numpy as np

from fusionlab.data.generated import GeneratedOnFirstUse, ensure_generated, fixed_order_matmul
from fusionlab.data.how2 import VIDEO_FEATURES, How2DataModule, read_id_text, read_ids
from fusionlab.data.kaldi import ARK_PLACEHOLDER
from fusionlab.data.synthetic_mt import (COLOURS, COUNTS, LEXICON, NOUNS, parse_source, render_source,
                                         render_target, sample_scene)

FORMAT_VERSION = 2   # 2: features summed in a fixed order (the same bytes at any BLAS thread count)
MANIFEST = "synthetic_how2.json"
SPLITS = ("train", "val", "dev5")
DEFAULT_SIZES = {"train": 3000, "val": 300, "dev5": 300}
VIDEO_DIM = 2048
SPEECH_DIM = 43
ARK_DIR = "features/fbank_pitch_181506"
VIDEO_ID_CHARS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_"


def video_projection(seed: int = 11) -> np.ndarray:
    """Fixed (len(COLOURS) + len(NOUNS), 2048) projection of one-hot [colour | noun] into video space."""
    return np.random.default_rng(seed).standard_normal((len(COLOURS) + len(NOUNS), VIDEO_DIM)).astype(np.float32)


def count_directions(seed: int = 13) -> np.ndarray:
    """Fixed (len(COUNTS), 43) unit directions: the speech signature of each count."""
    u = np.random.default_rng(seed).standard_normal((len(COUNTS), SPEECH_DIM))
    return (u / np.linalg.norm(u, axis=1, keepdims=True)).astype(np.float32)


def video_id(rng: np.random.Generator) -> str:
    """An 11-character YouTube-style id that contains both '-' and '_'."""
    chars = [VIDEO_ID_CHARS[int(i)] for i in rng.integers(len(VIDEO_ID_CHARS), size=11)]
    dash, under = rng.choice(11, size=2, replace=False)
    chars[int(dash)], chars[int(under)] = "-", "_"
    return "".join(chars)


def speech_matrix(count: int, offset: np.ndarray, scale: np.ndarray, rng: np.random.Generator,
                  signal: float) -> np.ndarray:
    """(T, 43) float32 raw features of one segment; T in 12..24 (see the module docstring)."""
    frames = int(rng.integers(12, 25))
    sign = np.where(np.arange(frames) < frames // 2, 1.0, -1.0)[:, None]
    pattern = signal * sign * count_directions()[count - 1]
    noise = rng.standard_normal((frames, SPEECH_DIM))
    return (offset + scale * (pattern + noise)).astype(np.float32)


def kaldi_cmvn_stats(frames: np.ndarray) -> np.ndarray:
    """compute-cmvn-stats layout (2, D+1): row 0 per-dim sums and the frame count, row 1 sums of squares."""
    stats = np.zeros((2, frames.shape[1] + 1))
    stats[0, :-1], stats[0, -1] = frames.sum(0), frames.shape[0]
    stats[1, :-1] = (frames.astype(np.float64) ** 2).sum(0)
    return stats


def generate_split(n: int, seed: int, noise: float = 1.0, signal: float = 2.0) -> dict:
    """``n`` segments: {"ids", "speakers", "src", "tgt", "video" (n, 2048), "speech" [(T, 43)]}."""
    rng = np.random.default_rng(seed)
    proj = video_projection()
    ids, speakers, src, tgt, speech = [], [], [], [], []
    factors = np.zeros((n, proj.shape[0]), dtype=np.float32)
    while len(ids) < n:
        video = video_id(rng)
        offset = rng.normal(8.0, 3.0, SPEECH_DIM)             # the speaker's channel (removed by CMVN)
        scale = rng.uniform(0.5, 2.0, SPEECH_DIM)
        for k in range(min(int(rng.integers(2, 6)), n - len(ids))):
            parts, count, colour = sample_scene(rng)
            i = len(ids)
            ids.append(f"{video}_{k}")
            speakers.append(video)
            src.append(render_source(**parts))
            tgt.append(render_target(parts, count, colour))
            factors[i, COLOURS.index(colour)] = 1
            factors[i, len(COLOURS) + NOUNS.index(parts["noun"])] = 1
            speech.append(speech_matrix(count, offset, scale, rng, signal))
    video_rows = fixed_order_matmul(factors, proj) + noise * rng.standard_normal((n, VIDEO_DIM)).astype(np.float32)
    return {"ids": ids, "speakers": speakers, "src": src, "tgt": tgt,
            "video": video_rows.astype(np.float32), "speech": speech}


def _write_lines(path: Path, lines: list[str]) -> None:
    path.write_text("".join(f"{line}\n" for line in lines), encoding="utf-8")


def _write_arks(ark_path: Path, scp_path: Path, matrices: dict[str, np.ndarray], ark_dir: Path) -> None:
    """Kaldi ark + scp (kaldiio), the ark folder written as the release's ARK_PATH placeholder."""
    import kaldiio

    with kaldiio.WriteHelper(f"ark,scp:{ark_path},{scp_path}") as writer:
        for key, mat in matrices.items():
            writer[key] = mat
    scp_path.write_text(scp_path.read_text().replace(str(ark_dir), ARK_PLACEHOLDER))


def write_split(root: Path, split: str, number: int, data: dict) -> dict[str, np.ndarray]:
    """The text files, feature ark/scp and video rows of one split (``number``: its ark file index).

    Returns the split's CMVN statistics per speaker (they go into the shared cmvn ark).
    """
    folder, ark_dir, video_dir = root / "data" / split, root / ARK_DIR, root / VIDEO_FEATURES
    for d in (folder, ark_dir, video_dir):
        d.mkdir(parents=True, exist_ok=True)
    ids, speakers = data["ids"], data["speakers"]
    _write_lines(folder / "id", ids)
    for lang, sents in (("en", data["src"]), ("pt", data["tgt"])):
        _write_lines(folder / f"text.{lang}", sents)
        _write_lines(folder / f"text.id.{lang}", [f"{i} {s}" for i, s in zip(ids, sents)])
    starts = np.cumsum([0] + [m.shape[0] for m in data["speech"]]) / 100.0   # 10 ms frames
    _write_lines(folder / "segments", [f"{i} {spk} {starts[k]:.2f} {starts[k + 1]:.2f}"
                                       for k, (i, spk) in enumerate(zip(ids, speakers))])
    _write_lines(folder / "utt2spk", [f"{i} {spk}" for i, spk in zip(ids, speakers)])
    by_speaker: dict[str, list[int]] = {}
    for k, spk in enumerate(speakers):
        by_speaker.setdefault(spk, []).append(k)
    _write_lines(folder / "spk2utt", [f"{spk} " + " ".join(ids[k] for k in rows)
                                      for spk, rows in by_speaker.items()])
    _write_arks(ark_dir / f"raw_fbank_pitch_all_181506.{number}.ark", folder / "feats.scp",
                dict(zip(ids, data["speech"])), ark_dir)
    np.save(video_dir / f"{split}.npy", data["video"])
    return {spk: kaldi_cmvn_stats(np.concatenate([data["speech"][k] for k in rows]))
            for spk, rows in by_speaker.items()}


def generate(data_dir: str | Path, sizes: dict[str, int] | None = None, seed: int = 1234,
             noise: float = 1.0, signal: float = 2.0) -> Path:
    """Write the dataset into ``data_dir`` in the How2 layout (deterministic for equal arguments)."""
    sizes = dict(sizes or DEFAULT_SIZES)
    unknown = sorted(set(sizes) - set(SPLITS))
    if unknown:
        raise ValueError(f"synthetic_how2 sizes: unknown split(s) {unknown}; use {list(SPLITS)}")
    root = Path(data_dir)
    stats: dict[str, dict[str, np.ndarray]] = {}
    for number, split in enumerate(SPLITS, start=1):
        data = generate_split(int(sizes[split]), seed * 101 + number, noise, signal)
        stats[split] = write_split(root, split, number, data)
    # one CMVN ark for every split, as in the release; each split's cmvn.scp lists its speakers
    ark_dir, all_scp = root / ARK_DIR, root / ARK_DIR / "cmvn_all_181506.scp"
    _write_arks(ark_dir / "cmvn_all_181506.ark", all_scp,
                {spk: st for split in SPLITS for spk, st in stats[split].items()}, ark_dir)
    lines = all_scp.read_text().splitlines()
    all_scp.unlink()
    for split in SPLITS:
        _write_lines(root / "data" / split / "cmvn.scp", [ln for ln in lines if ln.split()[0] in stats[split]])
    manifest = {"format_version": FORMAT_VERSION, "sizes": sizes, "seed": seed, "noise": noise,
                "signal": signal}
    (root / MANIFEST).write_text(json.dumps(manifest, sort_keys=True, indent=1) + "\n")
    return root


def bleu_ceilings(data_dir: str | Path, split: str = "dev5") -> dict:
    """BLEU of the best translation from each modality subset, with sacreBLEU.

    Every word is translated exactly; a fact the subset lacks is filled in with its most frequent
    value in train (count: speech; colour: video). Returns {"text_only", "text_video",
    "text_speech", "oracle", "signature"}.
    """
    import sacrebleu

    def facts(sentences: list[str]) -> tuple[list[int], list[str]]:
        count_of = {LEXICON[c]: i + 1 for i, c in enumerate(COUNTS)}
        colour_of = {LEXICON[c]: c for c in COLOURS}
        return ([count_of[s.split()[0]] for s in sentences], [colour_of[s.split()[1]] for s in sentences])

    folder = Path(data_dir) / "data"
    train_counts, train_colours = facts(read_id_text(folder / "train/text.id.pt", read_ids(folder / "train/id")))
    best_count = Counter(train_counts).most_common(1)[0][0]
    best_colour = Counter(train_colours).most_common(1)[0][0]
    ids = read_ids(folder / split / "id")
    sources = read_id_text(folder / split / "text.id.en", ids)
    refs = read_id_text(folder / split / "text.id.pt", ids)
    counts, colours = facts(refs)
    bleu = sacrebleu.BLEU()

    def score(use_count: bool, use_colour: bool) -> float:
        hyps = [render_target(parse_source(s), c if use_count else best_count, k if use_colour else best_colour)
                for s, c, k in zip(sources, counts, colours)]
        return round(bleu.corpus_score(hyps, [refs]).score, 2)

    return {"text_only": score(False, False), "text_video": score(False, True),
            "text_speech": score(True, False), "oracle": score(True, True),
            "signature": str(bleu.get_signature())}


class SyntheticHow2DataModule(GeneratedOnFirstUse, How2DataModule):
    """``dataset=synthetic_how2``: generates the files on first use, then reads them as How2.

    Extra options: ``sizes`` (split -> segments; default train 3000, val 300, dev5 300),
    ``data_seed`` (generation seed, separate from the training ``seed``), ``noise`` (video noise
    std), ``signal`` (speech pattern strength). The speech arks are read from
    ``<data_dir>/features/fbank_pitch_181506`` (the release's layout).
    """

    dataset_name = "synthetic_how2"

    def __init__(self, data_dir: str, sizes: dict[str, int] | None = None, data_seed: int = 1234,
                 noise: float = 1.0, signal: float = 2.0, tokenizer: str = "word", min_count: int = 1,
                 ark_dir: str | None = None, **kwargs):
        self.sizes = {str(k): int(v) for k, v in dict(sizes or DEFAULT_SIZES).items()}
        self.data_seed, self.noise, self.signal = int(data_seed), float(noise), float(signal)
        super().__init__(data_dir, tokenizer=tokenizer, min_count=min_count,
                         ark_dir=ark_dir or str(Path(data_dir) / ARK_DIR), **kwargs)

    def generate_files(self) -> None:
        wanted = {"format_version": FORMAT_VERSION, "sizes": self.sizes, "seed": self.data_seed,
                  "noise": self.noise, "signal": self.signal}
        ensure_generated(self.data_dir, MANIFEST, wanted,
                         lambda: generate(self.data_dir, self.sizes, self.data_seed, self.noise, self.signal),
                         self.dataset_name)

