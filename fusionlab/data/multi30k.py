"""Multi30K (task 1) reader and :class:`Multi30kDataModule`.

Layout read (the multi30k/dataset release; ``data_dir`` is the release root)::

    data_dir/data/task1/raw/{split}.{lang}.gz      (or plain {split}.{lang}) one sentence per line
    data_dir/data/task1/image_splits/{split}.txt   image names, line i <-> sentence i (mscoco: name#id)
    features_dir/{split}-resnet50-avgpool.npy      (N, 2048) float16        -> VECTOR modality "image"
    features_dir/{split}-resnet50-res4frelu.npy    (N, 1024, 14, 14) float16 -> SEQUENCE "image", 196 x 1024

or the HF-hub export: ``data_dir/{train,val,test}.jsonl`` with ``{"en": ..., "de": ...}`` per line
(``format: jsonl``, or detected automatically). Every problem raises :class:`DataError` naming the
file and what to do.
"""

from __future__ import annotations

import gzip
import json
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from fusionlab.data.base import FusionDataModule
from fusionlab.data.cache import (cache_key, default_cache_dir, load_tokenized_split, publish_dir,
                                  save_tokenized_split, TokenizedSplit)
from fusionlab.data.spec import SEQUENCE, TOKENS, TRANSLATION, VECTOR, DataSpec, ModalitySpec
from fusionlab.data.text import Tokenizer, load_tokenizer, train_tokenizer
from fusionlab.errors import ConfigError, DataError

LANGS = ("en", "de", "fr", "cs")
# split -> languages released for it, and its official size
SPLIT_LANGS = {
    "train": LANGS, "val": LANGS, "test_2016_flickr": LANGS, "test_2018_flickr": LANGS,
    "test_2017_flickr": ("en", "de", "fr"), "test_2017_mscoco": ("en", "de", "fr"),
}
SPLIT_SIZES = {"train": 29000, "val": 1014, "test_2016_flickr": 1000, "test_2017_flickr": 1000,
               "test_2017_mscoco": 461, "test_2018_flickr": 1071}
# features option -> (per-row shape, modality kind, modality dim)
FEATURE_KINDS = {"avgpool": ((2048,), VECTOR, 2048), "res4frelu": ((1024, 14, 14), SEQUENCE, 1024)}
DEFAULT_FEATURE_PATTERN = "{split}-resnet50-{features}.npy"
JSONL_ALIASES = {"val": ("val", "validation", "valid"), "test_2016_flickr": ("test_2016_flickr", "test")}

GET_MULTI30K = ("Get Multi30K from the multi30k/dataset GitHub repository "
                "(git clone https://github.com/multi30k/dataset) and point dataset.data_dir at the clone "
                "(the folder holding data/task1/). Licence: Flickr30K terms, non-commercial research and "
                "education only. Image features are a separate download (WMT multimodal task, "
                "*-resnet50-avgpool.npy / *-resnet50-res4frelu.npy); put them in dataset.features_dir "
                "or set dataset.features=none for text only.")


# --- files ------------------------------------------------------------------------------------
def read_text_lines(path: str | Path) -> list[str]:
    """Lines of a UTF-8 text file (gzip when named *.gz), without line ends.

    Raises DataError for a missing/truncated file or a line that is not UTF-8 (with its number).
    """
    path = Path(path)
    opener = gzip.open if path.suffix == ".gz" else open
    lines = []
    try:
        with opener(path, "rb") as f:
            for no, raw in enumerate(f, start=1):
                try:
                    lines.append(raw.decode("utf-8").rstrip("\r\n"))
                except UnicodeDecodeError as e:
                    raise DataError(f"{path}: line {no} is not UTF-8 ({e.reason} at byte {e.start}); "
                                    "re-encode the file as UTF-8") from None
    except FileNotFoundError:
        raise DataError(f"{path} is missing. {GET_MULTI30K}") from None
    except (EOFError, gzip.BadGzipFile, zlib.error) as e:
        raise DataError(f"{path} is truncated or not gzip ({e}); download it again") from None
    return lines


def check_no_empty_lines(lines: list[str], path: Path) -> None:
    empty = [i + 1 for i, line in enumerate(lines) if not line.strip()]
    if empty:
        shown = ", ".join(map(str, empty[:10])) + (" ..." if len(empty) > 10 else "")
        raise DataError(f"{path}: {len(empty)} empty line(s) at line {shown}; every line must hold one "
                        "sentence (restore the file from the release)")


def check_same_count(counts: dict[str, int], what: str) -> None:
    """``counts``: file description -> number of rows. All must agree (row i <-> sentence i)."""
    if len(set(counts.values())) > 1:
        listing = "; ".join(f"{name}: {n}" for name, n in counts.items())
        raise DataError(f"{what}: row counts disagree ({listing}); row i of each must describe the same "
                        "sentence, so restore the files from the same release")


def find_task1_dir(data_dir: str | Path) -> Path | None:
    """The folder holding raw/ (accepts the release root, data/ or data/task1 itself)."""
    d = Path(data_dir)
    for cand in (d / "data" / "task1", d / "task1", d):
        if (cand / "raw").is_dir():
            return cand
    return None


def jsonl_path(data_dir: Path, split: str) -> Path:
    for name in JSONL_ALIASES.get(split, (split,)):
        if (data_dir / f"{name}.jsonl").exists():
            return data_dir / f"{name}.jsonl"
    return data_dir / f"{split}.jsonl"


def detect_format(data_dir: str | Path, fmt: str = "auto") -> str:
    """``raw`` (official layout) or ``jsonl`` (HF export); DataError when data_dir holds neither."""
    d = Path(data_dir)
    if fmt not in ("auto", "raw", "jsonl"):
        raise ConfigError(f"dataset.format={fmt!r}: use auto, raw or jsonl")
    if not d.is_dir():
        raise DataError(f"Multi30K folder {d} does not exist. {GET_MULTI30K}")
    if fmt == "raw" or (fmt == "auto" and find_task1_dir(d) is not None):
        if find_task1_dir(d) is None:
            raise DataError(f"{d} has no data/task1/raw/ folder (format raw). {GET_MULTI30K}")
        return "raw"
    if fmt == "jsonl" or (d / "train.jsonl").exists():
        return "jsonl"
    raise DataError(f"{d} holds neither data/task1/raw/ (official layout) nor train.jsonl (HF export). "
                    f"{GET_MULTI30K}")


def raw_text_path(task1: Path, split: str, lang: str) -> Path:
    gz, plain = task1 / "raw" / f"{split}.{lang}.gz", task1 / "raw" / f"{split}.{lang}"
    if gz.exists():
        return gz
    if plain.exists():
        return plain
    raise DataError(f"{gz} (or {plain.name}) is missing: split {split!r}, language {lang!r}. "
                    f"Check dataset.test_sets / src_lang / tgt_lang, or re-download. {GET_MULTI30K}")


def read_jsonl_pair(path: Path, src_lang: str, tgt_lang: str) -> tuple[list[str], list[str]]:
    src, tgt = [], []
    for no, line in enumerate(read_text_lines(path), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            src.append(row[src_lang])
            tgt.append(row[tgt_lang])
        except ValueError as e:
            raise DataError(f"{path}: line {no} is not valid JSON ({e})") from None
        except (KeyError, TypeError):
            raise DataError(f"{path}: line {no} has no {src_lang!r}/{tgt_lang!r} keys; each line must "
                            f"be an object like {{\"{src_lang}\": ..., \"{tgt_lang}\": ...}}") from None
    for lang, lines in ((src_lang, src), (tgt_lang, tgt)):
        empty = [i + 1 for i, s in enumerate(lines) if not str(s).strip()]
        if empty:
            raise DataError(f"{path}: empty {lang!r} sentence in record(s) {empty[:10]}")
    return src, tgt


def read_image_names(task1: Path, split: str) -> list[str] | None:
    """Image file names of a split, ``#<caption id>`` suffixes (mscoco) stripped; None if absent."""
    path = task1 / "image_splits" / f"{split}.txt"
    if not path.exists():
        return None
    return [line.split("#", 1)[0].strip() for line in read_text_lines(path)]


class FeatureArray:
    """Row access to a ``.npy`` feature file, memory-mapped lazily (picklable: reopens per process).

    ``avgpool`` rows come back as (2048,) arrays; ``res4frelu`` rows (1024, 14, 14) as (196, 1024)
    sequences (spatial positions as steps).
    """

    def __init__(self, path: str | Path, features: str, expected_rows: int | None = None):
        self.path, self.features = Path(path), features
        row_shape, _, _ = FEATURE_KINDS[features]
        arr = self._open()
        if arr.ndim != 1 + len(row_shape) or tuple(arr.shape[1:]) != row_shape:
            expected = ", ".join(map(str, row_shape))
            raise DataError(f"{self.path}: shape {tuple(arr.shape)}, expected (N, {expected}) "
                            f"for features={features}; check dataset.features / feature_pattern")
        if arr.dtype.kind != "f":
            raise DataError(f"{self.path}: dtype {arr.dtype}, expected float16/float32 features")
        if expected_rows is not None and arr.shape[0] != expected_rows:
            raise DataError(f"{self.path} has {arr.shape[0]} rows but the split has {expected_rows} "
                            "sentences; row i must belong to sentence i (features of another split?)")
        self.shape = tuple(arr.shape)
        self._arr = None

    def _open(self) -> np.ndarray:
        if not self.path.exists():
            raise DataError(f"image features {self.path} are missing. Download the WMT Multi30K image "
                            "features into dataset.features_dir, fix dataset.feature_pattern, or set "
                            "dataset.features=none for text only")
        try:
            return np.load(self.path, mmap_mode="r", allow_pickle=False)
        except (ValueError, OSError, EOFError) as e:
            raise DataError(f"{self.path} is not a readable .npy array or is truncated ({e}); "
                            "download it again") from None

    def __getstate__(self) -> dict:
        return {**self.__dict__, "_arr": None}

    def __len__(self) -> int:
        return self.shape[0]

    def __getitem__(self, i: int) -> np.ndarray:
        if self._arr is None:
            self._arr = self._open()
        row = np.asarray(self._arr[i])
        if self.features == "res4frelu":
            return row.reshape(row.shape[0], -1).T  # (196, 1024)
        return row


@dataclass
class Multi30kSplit:
    """One split's parallel text (+ image names) and the files it came from."""

    name: str
    src: list[str]
    tgt: list[str]
    images: list[str] | None = None
    files: list[Path] = field(default_factory=list)


def split_files(data_dir: str | Path, split: str, src_lang: str, tgt_lang: str,
                fmt: str = "auto") -> list[Path]:
    """The text files (and image list) a split is read from; raises DataError when one is missing."""
    fmt = detect_format(data_dir, fmt)
    if fmt == "jsonl":
        path = jsonl_path(Path(data_dir), split)
        if not path.exists():
            raise DataError(f"{path} is missing (HF export: train/val/test.jsonl). {GET_MULTI30K}")
        return [path]
    task1 = find_task1_dir(data_dir)
    files = [raw_text_path(task1, split, src_lang), raw_text_path(task1, split, tgt_lang)]
    images = task1 / "image_splits" / f"{split}.txt"
    return files + ([images] if images.exists() else [])


def read_split(data_dir: str | Path, split: str, src_lang: str = "en", tgt_lang: str = "de",
               fmt: str = "auto") -> Multi30kSplit:
    """Read and check one split's parallel text (line counts agree, no empty line, UTF-8)."""
    files = split_files(data_dir, split, src_lang, tgt_lang, fmt)
    if detect_format(data_dir, fmt) == "jsonl":
        src, tgt = read_jsonl_pair(files[0], src_lang, tgt_lang)
        return Multi30kSplit(split, src, tgt, None, files)
    src, tgt = read_text_lines(files[0]), read_text_lines(files[1])
    counts = {str(files[0]): len(src), str(files[1]): len(tgt)}
    images = read_image_names(find_task1_dir(data_dir), split)
    if images is not None:
        counts[str(files[2])] = len(images)
    check_same_count(counts, f"Multi30K split {split!r}")
    check_no_empty_lines(src, files[0])
    check_no_empty_lines(tgt, files[1])
    return Multi30kSplit(split, src, tgt, images, files)


# --- DataModule ---------------------------------------------------------------------------------
class Multi30kDataModule(FusionDataModule):
    """Multi30K translation: source text (+ image features) -> target sentence.

    Options (``conf/dataset/multi30k.yaml``): ``src_lang``/``tgt_lang`` (en, de, fr, cs);
    ``test_sets`` (test_2016_flickr, test_2017_flickr, test_2017_mscoco, test_2018_flickr);
    ``features`` none | avgpool | res4frelu with ``features_dir`` (default ``data_dir/features``) and
    ``feature_pattern``; ``format`` auto | raw | jsonl; ``tokenizer`` sentencepiece | word with
    ``vocab_size``, ``joint_vocab``, ``sp_model_type`` (bpe | unigram), ``min_count`` (word),
    ``lowercase`` (BLEU is then scored case-insensitively, case:lc); ``max_len`` truncates source
    and target token ids (BOS/EOS excluded); ``cache_dir`` (default: train.py's ``paths.cache_dir``, never inside
    ``data_dir``, which may be read-only) holds tokenizers and tokenized splits; ``bucketing`` batches train sentences of similar length.
    """

    dataset_name = "multi30k"
    text_modality = "text"
    image_modality = "image"

    def __init__(self, data_dir: str, src_lang: str = "en", tgt_lang: str = "de",
                 test_sets: list[str] | tuple[str, ...] = ("test_2016_flickr",), features: str = "avgpool",
                 features_dir: str | None = None, feature_pattern: str = DEFAULT_FEATURE_PATTERN,
                 format: str = "auto", tokenizer: str = "sentencepiece", vocab_size: int = 8000,
                 joint_vocab: bool = True, sp_model_type: str = "bpe", min_count: int = 3,
                 max_len: int = 100, lowercase: bool = False, cache_dir: str | None = None,
                 bucketing: bool = True, batch_size: int = 100, eval_batch_size: int | None = None,
                 num_workers: int = 0, seed: int = 0):
        if isinstance(test_sets, str):
            test_sets = [test_sets]
        super().__init__(data_dir, batch_size=batch_size, eval_batch_size=eval_batch_size,
                         num_workers=num_workers, seed=seed, test_names=list(test_sets))
        self.src_lang, self.tgt_lang = str(src_lang), str(tgt_lang)
        self.features = str(features or "none")
        self.features_dir = Path(features_dir) if features_dir else Path(self.data_dir) / "features"
        self.feature_pattern = str(feature_pattern)
        self.format = str(format)
        self.tokenizer_kind = str(tokenizer)
        self.vocab_size = int(vocab_size)
        self.joint_vocab = bool(joint_vocab)
        self.sp_model_type = str(sp_model_type)
        self.min_count = int(min_count)
        self.max_len = int(max_len)
        self.lowercase = bool(lowercase)
        self.cache_dir = Path(cache_dir) if cache_dir else default_cache_dir()
        self.bucketing = bool(bucketing)
        self.src_tokenizer: Tokenizer | None = None
        self.validate_options()

    # --- options --------------------------------------------------------------------------------
    @property
    def split_names(self) -> list[str]:
        return ["train", "val"] + [t for t in self.test_names if t not in ("train", "val")]

    def validate_options(self) -> None:
        for opt, lang in (("src_lang", self.src_lang), ("tgt_lang", self.tgt_lang)):
            if lang not in LANGS:
                raise ConfigError(f"dataset.{opt}={lang!r}: Multi30K has {', '.join(LANGS)}")
        if self.src_lang == self.tgt_lang:
            raise ConfigError(f"dataset.src_lang and tgt_lang are both {self.src_lang!r}")
        for split in self.split_names:
            langs = SPLIT_LANGS.get(split)
            if langs is None:
                continue  # a user-added split: its files decide
            for lang in (self.src_lang, self.tgt_lang):
                if lang not in langs:
                    raise ConfigError(f"dataset.test_sets: {split} has no {lang!r} side in Multi30K "
                                      f"(only {', '.join(langs)}); drop it from test_sets or change "
                                      "src_lang/tgt_lang")
        if self.features not in ("none", *FEATURE_KINDS):
            raise ConfigError(f"dataset.features={self.features!r}: use none, avgpool or res4frelu")
        if self.max_len < 1:
            raise ConfigError(f"dataset.max_len={self.max_len}: must be >= 1")

    def tokenizer_settings(self) -> dict:
        return {"kind": self.tokenizer_kind, "vocab_size": self.vocab_size, "joint": self.joint_vocab,
                "sp_model_type": self.sp_model_type, "min_count": self.min_count,
                "lowercase": self.lowercase, "src": self.src_lang, "tgt": self.tgt_lang}

    # --- cache ----------------------------------------------------------------------------------
    def tokenizer_dir(self) -> Path:
        files = split_files(self.data_dir, "train", self.src_lang, self.tgt_lang, self.format)
        key = cache_key(files, self.tokenizer_settings())
        return self.cache_dir / f"{self.dataset_name}-tokenizer-{self.src_lang}{self.tgt_lang}-{key}"

    def split_dir(self, split: str, fingerprint: str) -> Path:
        files = split_files(self.data_dir, split, self.src_lang, self.tgt_lang, self.format)
        key = cache_key(files, {"tokenizer": fingerprint, "max_len": self.max_len,
                                "src": self.src_lang, "tgt": self.tgt_lang, "split": split})
        return self.cache_dir / f"{self.dataset_name}-{split}-{self.src_lang}{self.tgt_lang}-{key}"

    def build_tokenizers(self) -> tuple[Tokenizer, Tokenizer]:
        """Train (or read the cached) source and target tokenizers on the train split."""
        folder = self.tokenizer_dir()

        def build(tmp: Path) -> None:
            train = read_split(self.data_dir, "train", self.src_lang, self.tgt_lang, self.format)
            opts = dict(vocab_size=self.vocab_size, model_type=self.sp_model_type,
                        lowercase=self.lowercase, min_count=self.min_count)
            if self.joint_vocab:
                src = tgt = train_tokenizer(self.tokenizer_kind, train.src + train.tgt, **opts)
            else:
                src = train_tokenizer(self.tokenizer_kind, train.src, **opts)
                tgt = train_tokenizer(self.tokenizer_kind, train.tgt, **opts)
            src.save(tmp / "src.json")
            tgt.save(tmp / "tgt.json")

        publish_dir(build, folder)
        return load_tokenizer(folder / "src.json"), load_tokenizer(folder / "tgt.json")

    def build_split_cache(self, split: str, src_tok: Tokenizer, tgt_tok: Tokenizer) -> Path:
        fingerprint = f"{src_tok.fingerprint}-{tgt_tok.fingerprint}"
        folder = self.split_dir(split, fingerprint)

        def build(tmp: Path) -> None:
            data = read_split(self.data_dir, split, self.src_lang, self.tgt_lang, self.format)
            src_ids = [ids[: self.max_len] for ids in src_tok.encode_batch(data.src)]
            tgt_ids = [ids[: self.max_len] for ids in tgt_tok.encode_batch(data.tgt)]
            save_tokenized_split(tmp, src_ids, tgt_ids, data.src, data.tgt,
                                 {"split": split, "n": len(src_ids), "tokenizer": fingerprint,
                                  "images": data.images is not None})

        return publish_dir(build, folder)

    def prepare_data(self) -> None:
        """Train tokenizers and write every split's tokenized cache (rank 0; later loads reuse it)."""
        self.check_feature_files()  # before minutes of tokenizing
        src_tok, tgt_tok = self.build_tokenizers()
        for split in self.split_names:
            self.build_split_cache(split, src_tok, tgt_tok)

    # --- load -----------------------------------------------------------------------------------
    def feature_path(self, split: str) -> Path:
        return self.features_dir / self.feature_pattern.format(split=split, features=self.features)

    def missing_feature_files(self) -> list[Path]:
        """The image feature files of the configured splits that do not exist ([] for features=none)."""
        if self.features == "none":
            return []
        return [p for p in map(self.feature_path, self.split_names) if not p.is_file()]

    def check_feature_files(self) -> None:
        """DataError listing the missing feature files (e.g. the text-only release) and the options
        (after checking that the data folder itself is there)."""
        detect_format(self.data_dir, self.format)
        missing = self.missing_feature_files()
        if missing:
            more = f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""
            raise DataError(f"image features {missing[0]}{more} are missing (features={self.features}): "
                            "for text only set dataset.features=none (or use fusion=text_only); "
                            "otherwise download the WMT Multi30K features into dataset.features_dir "
                            "or fix dataset.feature_pattern")

    def load(self) -> None:
        self.check_feature_files()
        src_tok, tgt_tok = self.build_tokenizers()
        self.src_tokenizer, self.tgt_tokenizer = src_tok, tgt_tok
        self.splits = {}
        for split in self.split_names:
            cached = load_tokenized_split(self.build_split_cache(split, src_tok, tgt_tok))
            n = len(cached["tgt_text"])
            feats = None
            if self.features != "none":
                feats = FeatureArray(self.feature_path(split), self.features, n)
            self.splits[split] = TokenizedSplit(cached, tgt_tok.bos_id, tgt_tok.eos_id, feats,
                                                feature_name=self.image_modality,
                                                text_name=self.text_modality)
        modalities = {self.text_modality: ModalitySpec(TOKENS, src_tok.vocab_size, src_tok.pad_id)}
        if self.features != "none":
            _, kind, dim = FEATURE_KINDS[self.features]
            modalities[self.image_modality] = ModalitySpec(kind, dim)
        fingerprint = (src_tok.fingerprint if self.joint_vocab
                       else f"{src_tok.fingerprint}-{tgt_tok.fingerprint}")
        self.spec = DataSpec(task=TRANSLATION, modalities=modalities, tgt_vocab_size=tgt_tok.vocab_size,
                             pad_id=tgt_tok.pad_id, bos_id=tgt_tok.bos_id, eos_id=tgt_tok.eos_id,
                             tokenizer_fingerprint=fingerprint)
