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

from fusionlab.data.feature_rows import FeatureRows
from fusionlab.data.translation import TranslationDataModule
from fusionlab.errors import ConfigError, DataError

LANGS = ("en", "de", "fr", "cs")
# split -> languages released for it, and its official size
SPLIT_LANGS = {
    "train": LANGS, "val": LANGS, "test_2016_flickr": LANGS, "test_2018_flickr": LANGS,
    "test_2017_flickr": ("en", "de", "fr"), "test_2017_mscoco": ("en", "de", "fr"),
}
SPLIT_SIZES = {"train": 29000, "val": 1014, "test_2016_flickr": 1000, "test_2017_flickr": 1000,
               "test_2017_mscoco": 461, "test_2018_flickr": 1071}
# features option -> (per-row shape, rows read as spatial steps: a SEQUENCE modality)
FEATURE_KINDS = {"avgpool": ((2048,), False), "res4frelu": ((1024, 14, 14), True)}
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
class Multi30kDataModule(TranslationDataModule):
    """Multi30K translation: source text (+ image features) -> target sentence.

    Options (``conf/dataset/multi30k.yaml``): those of :class:`TranslationDataModule` (languages en,
    de, fr, cs; ``test_sets`` test_2016_flickr, test_2017_flickr, test_2017_mscoco, test_2018_flickr),
    ``features`` none | avgpool | res4frelu with ``features_dir`` (default ``data_dir/features``) and
    ``feature_pattern``; ``format`` auto | raw | jsonl.
    """

    dataset_name = "multi30k"
    corpus = "Multi30K"
    languages = LANGS
    image_modality = "image"

    def __init__(self, data_dir: str, features: str = "avgpool", features_dir: str | None = None,
                 feature_pattern: str = DEFAULT_FEATURE_PATTERN, format: str = "auto",
                 test_sets: list[str] | tuple[str, ...] = ("test_2016_flickr",), **options):
        super().__init__(data_dir, test_sets=test_sets, **options)
        self.features = str(features or "none")
        self.features_dir = Path(features_dir) if features_dir else Path(self.data_dir) / "features"
        self.feature_pattern = str(feature_pattern)
        self.format = str(format)
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

    # --- text -----------------------------------------------------------------------------------
    def text_files(self, split: str) -> list[Path]:
        return split_files(self.data_dir, split, self.src_lang, self.tgt_lang, self.format)

    def read_text(self, split: str) -> tuple[list[str], list[str]]:
        data = read_split(self.data_dir, split, self.src_lang, self.tgt_lang, self.format)
        return data.src, data.tgt

    def split_meta(self, split: str, n: int, src_tok, tgt_tok) -> dict:
        images = any(f.parent.name == "image_splits" for f in self.text_files(split))
        return {**super().split_meta(split, n, src_tok, tgt_tok), "images": images}

    # --- image features -------------------------------------------------------------------------
    def feature_path(self, split: str) -> Path:
        return self.features_dir / self.feature_pattern.format(split=split, features=self.features)

    def missing_feature_files(self) -> list[Path]:
        """The image feature files of the configured splits that do not exist ([] for features=none)."""
        if self.features == "none":
            return []
        return [p for p in map(self.feature_path, self.split_names) if not p.is_file()]

    def check_files(self) -> None:
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

    def split_features(self, split: str, n_rows: int) -> dict[str, FeatureRows]:
        """avgpool rows (2048,); res4frelu rows (1024, 14, 14) as (196, 1024) sequences."""
        if self.features == "none":
            return {}
        row_shape, as_steps = FEATURE_KINDS[self.features]
        rows = FeatureRows(self.feature_path(split), n_rows, row_shape=row_shape, as_steps=as_steps,
                           what="image features",
                           rows_of=f"the split has {n_rows} sentences; row i must belong to sentence i",
                           missing="download the WMT Multi30K image features into dataset.features_dir, "
                                   "fix dataset.feature_pattern, or set dataset.features=none for text only",
                           options=f"dataset.features={self.features} / feature_pattern")
        return {self.image_modality: rows}
