"""``synthetic_mt``: a small embedded translation task that needs the image to be solved.

The source (``en``) describes a scene without saying how many subjects there are or what colour
they are: ``"the dog runs quickly on the wet grass at night"``. The target (``de`` in the file
names; a made-up but consistent language) states both facts first, maps every other word one to
one, puts the verb last and inflects it for the count (singular, dual, trial, plural)::

    en: the dog runs quickly on the wet grass at night
    de: gebar peri rurol vomo burotis busofen dekur molasta ginal terepan
        (three green dog quickly on wet grass run-TRIAL at night)

Count (1-4) and colour (6 values) appear only in the image features: each row of
``features/{split}-resnet50-avgpool.npy`` (N, 2048) float16 is a fixed random linear projection of
the one-hot count, colour and subject, plus Gaussian noise. A model that reads the image can
reach BLEU 100 (the fused oracle); a text-only model at best guesses the most frequent count and
colour (and the verb form that follows the count). :func:`text_only_bleu_ceiling` computes that
text-only ceiling with sacreBLEU: 49.3 BLEU on the default test split (train 5000 / val 300 /
test 300, ``data_seed=1234``; ``scripts/prepare_data.py synthetic_mt`` prints it; any fixed
count/colour guess scores 48.8-53.1), against 100 for the fused oracle, so a fused model can
clearly exceed any text-only one. Vocabulary: 88 source and 138 target words; sentences have 6-11
words.

The files use the exact Multi30K layout and are read back through the Multi30K loader.
"""

from __future__ import annotations

import gzip
import json
import random
from collections import Counter
from pathlib import Path

import numpy as np

from fusionlab.data.generated import GeneratedOnFirstUse, fixed_order_matmul
from fusionlab.data.generated import ensure_generated as ensure_manifest
from fusionlab.data.multi30k import Multi30kDataModule, read_text_lines

FORMAT_VERSION = 2   # 2: features summed in a fixed order (the same bytes at any BLAS thread count)
MANIFEST = "synthetic_mt.json"
FEATURE_DIM = 2048
TEST_SPLIT = "test_2016_flickr"

NOUNS = ["dog", "cat", "horse", "bird", "cow", "goat", "sheep", "rabbit", "fox", "duck",
         "man", "woman", "boy", "girl", "child", "car", "bus", "bike", "boat", "ball"]
VERBS = ["runs", "sits", "jumps", "walks", "sleeps", "plays", "stands", "waits", "rests", "rolls",
         "turns", "stops", "moves", "hides"]
ADVERBS = ["quickly", "slowly", "quietly", "happily", "alone", "again", "today", "calmly"]
PREPS = ["on", "near", "under", "behind", "beside", "in", "by", "above"]
ADJECTIVES = ["small", "big", "old", "wet", "quiet", "long", "dark", "wide", "new", "busy"]
PLACES = ["grass", "beach", "street", "table", "bridge", "river", "hill", "road", "park", "snow",
          "field", "wall", "lake", "garden", "tree", "house"]
TAILS = ["at night", "in the morning", "after lunch", "with a friend", "before noon", "near home"]
COUNTS = ["one", "two", "three", "four"]                    # image only
COLOURS = ["red", "blue", "green", "yellow", "black", "white"]  # image only


def _made_up_lexicon() -> dict[str, str]:
    """English word -> target word; fixed (independent of the data seed) so the language never changes."""
    rng = random.Random(20210419)
    onsets, vowels, codas = "bdfgklmnprstvwz", "aeiou", ["", "", "n", "r", "s", "l"]
    used: set[str] = set()
    words = NOUNS + VERBS + ADVERBS + PREPS + ADJECTIVES + PLACES + COUNTS + COLOURS
    words += sorted({w for t in TAILS for w in t.split()} - set(words))
    lexicon = {}
    for w in words:
        while True:
            cand = "".join(rng.choice(onsets) + rng.choice(vowels) for _ in range(rng.choice((2, 2, 3))))
            cand += rng.choice(codas)
            if cand not in used:
                used.add(cand)
                lexicon[w] = cand
                break
    return lexicon


LEXICON = _made_up_lexicon()
COUNT_SUFFIXES = ("", "ne", "ta", "kim")  # the verb agrees with the count (singular, dual, trial, plural)


def render_source(noun: str, verb: str, adverb: str | None, prep: str, adjective: str | None,
                  place: str, tail: str | None) -> str:
    words = ["the", noun, verb] + ([adverb] if adverb else []) + [prep, "the"]
    words += ([adjective] if adjective else []) + [place] + (tail.split() if tail else [])
    return " ".join(words)


def parse_source(sentence: str) -> dict:
    """Inverse of :func:`render_source` (the grammar is unambiguous)."""
    words = sentence.split()
    tail = next((t for t in TAILS if sentence.endswith(" " + t)), None)
    if tail:
        words = words[: -len(tail.split())]
    noun, verb, rest = words[1], words[2], words[3:]
    adverb = rest.pop(0) if rest[0] in ADVERBS else None
    prep = rest.pop(0)
    rest = rest[1:]  # "the"
    adjective = rest.pop(0) if len(rest) == 2 else None
    return {"noun": noun, "verb": verb, "adverb": adverb, "prep": prep, "adjective": adjective,
            "place": rest[0], "tail": tail}


def render_target(parts: dict, count: int, colour: str) -> str:
    """The made-up target sentence for parsed source ``parts`` and the image facts."""
    lx = LEXICON
    verb = lx[parts["verb"]] + COUNT_SUFFIXES[count - 1]
    words = [lx[COUNTS[count - 1]], lx[colour], lx[parts["noun"]]]
    words += [lx[parts["adverb"]]] if parts["adverb"] else []
    words += [lx[parts["prep"]]] + ([lx[parts["adjective"]]] if parts["adjective"] else [])
    words += [lx[parts["place"]], verb]
    if parts["tail"]:
        words += [lx[w] for w in parts["tail"].split() if w not in ("the", "a")]
    return " ".join(words)


def feature_projection(seed: int = 7) -> np.ndarray:
    """The fixed (K, 2048) projection of one-hot [count | colour | noun] factors into feature space."""
    k = len(COUNTS) + len(COLOURS) + len(NOUNS)
    return np.random.default_rng(seed).standard_normal((k, FEATURE_DIM)).astype(np.float32)


def sample_scene(rng: np.random.Generator) -> tuple[dict, int, str]:
    """One random scene: (source parts for :func:`render_source`, count 1-4, colour)."""
    def pick(options, p_none=0.0):
        return None if p_none and rng.random() < p_none else options[int(rng.integers(len(options)))]

    parts = {"noun": pick(NOUNS), "verb": pick(VERBS), "adverb": pick(ADVERBS, 0.5),
             "prep": pick(PREPS), "adjective": pick(ADJECTIVES, 0.5), "place": pick(PLACES),
             "tail": pick(TAILS, 0.6)}
    return parts, int(rng.integers(1, len(COUNTS) + 1)), pick(COLOURS)


def generate_split(n: int, seed: int, noise: float = 1.0) -> tuple[list[str], list[str], np.ndarray]:
    """``n`` (source, target, feature row) triples; deterministic from ``seed``."""
    rng = np.random.default_rng(seed)
    proj = feature_projection()
    src, tgt = [], []
    factors = np.zeros((n, proj.shape[0]), dtype=np.float32)

    for i in range(n):
        parts, count, colour = sample_scene(rng)
        src.append(render_source(**parts))
        tgt.append(render_target(parts, count, colour))
        factors[i, count - 1] = 1
        factors[i, len(COUNTS) + COLOURS.index(colour)] = 1
        factors[i, len(COUNTS) + len(COLOURS) + NOUNS.index(parts["noun"])] = 1
    feats = fixed_order_matmul(factors, proj) + noise * rng.standard_normal((n, FEATURE_DIM)).astype(np.float32)
    return src, tgt, feats.astype(np.float16)


def _write_gz_lines(path: Path, lines: list[str]) -> None:
    with open(path, "wb") as raw, gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0) as f:
        f.write(("\n".join(lines) + "\n").encode("utf-8"))


def generate(data_dir: str | Path, sizes: dict[str, int] | None = None, seed: int = 1234,
             noise: float = 1.0) -> Path:
    """Write the dataset into ``data_dir`` in the Multi30K layout (byte-identical for equal arguments).

    Files: ``data/task1/raw/{split}.{en,de}.gz``, ``data/task1/image_splits/{split}.txt``,
    ``features/{split}-resnet50-avgpool.npy`` (N, 2048) float16 and the manifest ``synthetic_mt.json``.
    """
    sizes = dict(sizes or {"train": 5000, "val": 300, TEST_SPLIT: 300})
    root = Path(data_dir)
    raw, images, features = root / "data/task1/raw", root / "data/task1/image_splits", root / "features"
    for d in (raw, images, features):
        d.mkdir(parents=True, exist_ok=True)
    for k, (split, n) in enumerate(sorted(sizes.items())):
        src, tgt, feats = generate_split(int(n), seed=seed * 101 + k, noise=noise)
        _write_gz_lines(raw / f"{split}.en.gz", src)
        _write_gz_lines(raw / f"{split}.de.gz", tgt)
        (images / f"{split}.txt").write_text("".join(f"synth_{split}_{i:05d}.jpg\n" for i in range(n)))
        np.save(features / f"{split}-resnet50-avgpool.npy", feats)
    manifest = {"format_version": FORMAT_VERSION, "sizes": sizes, "seed": seed, "noise": noise}
    (root / MANIFEST).write_text(json.dumps(manifest, sort_keys=True, indent=1) + "\n")
    return root


def ensure_generated(data_dir: str | Path, sizes: dict[str, int], seed: int, noise: float) -> None:
    """Generate when missing; regenerate when our manifest differs; refuse to touch foreign folders."""
    wanted = {"format_version": FORMAT_VERSION, "sizes": dict(sizes), "seed": seed, "noise": noise}
    ensure_manifest(data_dir, MANIFEST, wanted, lambda: generate(data_dir, sizes, seed, noise), "synthetic_mt")


def text_only_bleu_ceiling(data_dir: str | Path, split: str = TEST_SPLIT) -> dict:
    """BLEU of the best translation without the image vs the fused oracle, with sacreBLEU.

    The text-only guess translates every word exactly and fills in the most frequent count and
    colour of the train split (and the matching verb form). The oracle uses the true facts and
    scores 100. Returns ``{"text_only": float, "oracle": float, "signature": str}``.
    """
    import sacrebleu

    raw = Path(data_dir) / "data/task1/raw"
    train_tgt = read_text_lines(raw / "train.de.gz")
    count_of = {LEXICON[c]: i + 1 for i, c in enumerate(COUNTS)}
    colour_of = {LEXICON[c]: c for c in COLOURS}
    best_count = Counter(count_of[s.split()[0]] for s in train_tgt).most_common(1)[0][0]
    best_colour = Counter(colour_of[s.split()[1]] for s in train_tgt).most_common(1)[0][0]
    sources, refs = read_text_lines(raw / f"{split}.en.gz"), read_text_lines(raw / f"{split}.de.gz")
    guess = [render_target(parse_source(s), best_count, best_colour) for s in sources]
    oracle = [render_target(parse_source(s), count_of[r.split()[0]], colour_of[r.split()[1]])
              for s, r in zip(sources, refs)]
    bleu = sacrebleu.BLEU()
    text_only = bleu.corpus_score(guess, [refs]).score
    return {"text_only": round(text_only, 2), "oracle": round(bleu.corpus_score(oracle, [refs]).score, 2),
            "signature": str(bleu.get_signature())}


class SyntheticMTDataModule(GeneratedOnFirstUse, Multi30kDataModule):
    """``dataset=synthetic_mt``: generates the files on first use, then reads them as Multi30K.

    Extra options: ``sizes`` (split -> rows; default train 5000, val 300, test_2016_flickr 300),
    ``data_seed`` (generation seed, separate from the training ``seed``), ``noise`` (feature noise std).
    Defaults: word tokenizer with min_count 1, avgpool image features.
    """

    dataset_name = "synthetic_mt"

    def __init__(self, data_dir: str, sizes: dict[str, int] | None = None, data_seed: int = 1234,
                 noise: float = 1.0, tokenizer: str = "word", min_count: int = 1,
                 features: str = "avgpool", test_sets=(TEST_SPLIT,), src_lang: str = "en",
                 tgt_lang: str = "de", max_len: int = 32, **kwargs):
        sizes = dict(sizes or {"train": 5000, "val": 300, TEST_SPLIT: 300})
        self.sizes = {str(k): int(v) for k, v in sizes.items()}
        self.data_seed, self.noise = int(data_seed), float(noise)
        super().__init__(data_dir, tokenizer=tokenizer, min_count=min_count, features=features,
                         test_sets=test_sets, src_lang=src_lang, tgt_lang=tgt_lang, max_len=max_len, **kwargs)

    def generate_files(self) -> None:
        ensure_generated(self.data_dir, self.sizes, self.data_seed, self.noise)

