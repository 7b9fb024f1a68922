"""How2 300h (srvk/how2-dataset release) reader and :class:`How2DataModule`.

Layout read (``data_dir`` is the ``how2-300h-v1`` folder)::

    data/{split}/id                   segment ids, one per line: defines the row order
    data/{split}/text.id.{en,pt}      "<seg_id> <text>" lines, joined to the id order
    data/{split}/feats.scp, cmvn.scp  Kaldi scp; paths may hold a literal ARK_PATH (-> ark_dir)
    data/{split}/utt2spk              segment -> speaker (CMVN stats are per speaker)
    features/fbank_pitch_181506/*.ark                     speech arks (the release unpacks them here;
                                                          an older layout, fbank_pitch_181506/, is read too)
    features/resnext101-action-avgpool-300h/{split}.npy   (N, 2048), row i <-> line i of id

Splits train / val / dev5 (dev5 is the test set). Modalities: ``text`` (TOKENS, source
language), ``video`` (VECTOR 2048), ``speech`` (SEQUENCE, 43-d fbank+pitch with CMVN). Segment ids
start with an 11-character video id that can contain ``-`` and ``_``; ids are only ever compared
whole. Every problem raises DataError naming the file and what to do.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from pathlib import Path

import numpy as np
from torch.utils.data import Dataset

from fusionlab.data.base import FusionDataModule
from fusionlab.data.cache import (TokenizedSplit, cache_key, default_cache_dir, load_tokenized_split,
                                  publish_dir, save_tokenized_split)
from fusionlab.data.kaldi import KaldiFeatures, check_cmvn_mode, load_matrix, read_scp, read_table
from fusionlab.data.spec import SEQUENCE, TOKENS, TRANSLATION, VECTOR, DataSpec, ModalitySpec
from fusionlab.data.text import Tokenizer, load_tokenizer, train_tokenizer
from fusionlab.errors import ConfigError, DataError

HOW2_MODALITIES = ("text", "video", "speech")
LANGS = ("en", "pt")
VIDEO_FEATURES = "features/resnext101-action-avgpool-300h"
# where the fbank_pitch_181506 download unpacks (the release), then the older layout
ARK_DIRS = ("features/fbank_pitch_181506", "fbank_pitch_181506")
GET_HOW2 = ("Get How2 (300h release, how2-300h-v1) from https://github.com/srvk/how2-dataset (fill in "
            "the request form; text, the fbank_pitch_181506 speech features and the "
            "resnext101-action-avgpool-300h video features are separate downloads) and set "
            "dataset.data_dir to the how2-300h-v1 folder.")


# --- text files -------------------------------------------------------------------------------
def read_ids(path: Path) -> list[str]:
    """The ``id`` file: one segment id per line (empty lines skipped); DataError on repeats."""
    if not path.is_file():
        raise DataError(f"{path} is missing (the segment id list of the split). {GET_HOW2}")
    ids = [line.strip() for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    repeated = [i for i, n in Counter(ids).items() if n > 1]
    if repeated:
        raise DataError(f"{path}: segment id(s) {repeated[:3]} appear more than once")
    return ids


def join_to_ids(table: dict[str, str], ids: list[str], path: Path, what: str) -> list[str]:
    """Values of ``table`` (read from ``path``) in ``ids`` order; DataError on missing/extra ids."""
    missing = [i for i in ids if i not in table]
    if missing:
        raise DataError(f"{path}: {len(missing)} segment id(s) of the id file have no {what}, e.g. "
                        f"{missing[:3]}; restore the file from the same release as the id file")
    if len(table) != len(ids):
        extra = [k for k in table if k not in set(ids)]
        raise DataError(f"{path} has {len(table)} entries but the id file has {len(ids)} "
                        f"(extra ids e.g. {extra[:3]}); both must list the same segments")
    return [table[i] for i in ids]


def read_id_text(path: Path, ids: list[str]) -> list[str]:
    """``text.id.<lang>`` ("<seg_id> <text>") -> sentences in ``ids`` order."""
    if not path.is_file():
        raise DataError(f"{path} is missing. {GET_HOW2}")
    table: dict[str, str] = {}
    with open(path, encoding="utf-8") as f:
        for no, line in enumerate(f, start=1):
            line = line.rstrip("\r\n")
            if not line.strip():
                continue
            seg, _, text = line.partition(" ")
            if seg in table:
                raise DataError(f"{path}: segment id {seg!r} appears twice (line {no})")
            table[seg] = text.strip()
    return join_to_ids(table, ids, path, "sentence")


class VideoFeatures:
    """Rows of ``{split}.npy`` (N, D) float, memory-mapped lazily (picklable)."""

    def __init__(self, path: Path, expected_rows: int, id_file: Path):
        self.path = path
        arr = self._open()
        if arr.ndim != 2 or arr.dtype.kind != "f":
            raise DataError(f"{path}: shape {arr.shape} dtype {arr.dtype}, expected (N, 2048) float")
        if arr.shape[0] != expected_rows:
            raise DataError(f"{path} has {arr.shape[0]} rows but {id_file} lists {expected_rows} "
                            "segments; row i must belong to line i of the id file (features of "
                            "another split or release?)")
        self.dim = int(arr.shape[1])
        self._arr = None

    def _open(self) -> np.ndarray:
        if not self.path.is_file():
            raise DataError(f"video features {self.path} are missing: download the "
                            "resnext101-action-avgpool-300h features, set dataset.video_dir, or drop "
                            "'video' from dataset.modalities. " + GET_HOW2)
        try:
            return np.load(self.path, mmap_mode="r", allow_pickle=False)
        except (ValueError, OSError, EOFError) as e:
            raise DataError(f"{self.path} is not a readable .npy array ({e}); download it again") from None

    def __getstate__(self) -> dict:
        return {**self.__dict__, "_arr": None}

    def __getitem__(self, i: int) -> np.ndarray:
        if self._arr is None:
            self._arr = self._open()
        return np.asarray(self._arr[i], dtype=np.float32)


class How2Split(Dataset):
    """Tokenized text (source ids, target, reference) plus the selected feature modalities.

    Sample (``collate.py``): inputs text (ids), video (2048,), speech (T, 43); target/target_text.
    """

    def __init__(self, tokenized: TokenizedSplit, modalities: list[str], video=None, speech=None):
        self.tokenized, self.modalities = tokenized, modalities
        self.features = {"video": video, "speech": speech}
        self.lengths, self.target_lengths = tokenized.lengths, tokenized.target_lengths

    def __len__(self) -> int:
        return len(self.tokenized)

    def __getitem__(self, i: int) -> dict:
        sample = self.tokenized[i]
        inputs = {}
        for m in self.modalities:
            inputs[m] = sample["inputs"]["text"] if m == "text" else self.features[m][int(i)]
        return {**sample, "inputs": inputs}


def default_ark_dir(root: Path) -> Path:
    """The first of :data:`ARK_DIRS` under ``root`` that exists (the release's place if none does)."""
    return next((root / d for d in ARK_DIRS if (root / d).is_dir()), root / ARK_DIRS[0])


# --- tokenizers and the tokenized-split cache -------------------------------------------------
def build_tokenizer_pair(folder: Path, read_train: Callable[[], tuple[list[str], list[str]]],
                         kind: str, joint: bool, **options) -> tuple[Tokenizer, Tokenizer]:
    """Train (once, into ``folder``) and load the source and target tokenizers."""
    def build(tmp: Path) -> None:
        src_text, tgt_text = read_train()
        if joint:
            src = tgt = train_tokenizer(kind, src_text + tgt_text, **options)
        else:
            src, tgt = train_tokenizer(kind, src_text, **options), train_tokenizer(kind, tgt_text, **options)
        src.save(tmp / "src.json")
        tgt.save(tmp / "tgt.json")

    publish_dir(build, folder)
    return load_tokenizer(folder / "src.json"), load_tokenizer(folder / "tgt.json")


def build_tokenized_split(folder: Path, read: Callable[[], tuple[list[str], list[str]]],
                          src_tok: Tokenizer, tgt_tok: Tokenizer, max_len: int) -> dict:
    """Tokenize a split once (into ``folder``) and load it (see ``cache.py``)."""
    def build(tmp: Path) -> None:
        src_text, tgt_text = read()
        src_ids = [ids[:max_len] for ids in src_tok.encode_batch(src_text)]
        tgt_ids = [ids[:max_len] for ids in tgt_tok.encode_batch(tgt_text)]
        save_tokenized_split(tmp, src_ids, tgt_ids, src_text, tgt_text, {"n": len(src_ids)})

    return load_tokenized_split(publish_dir(build, folder))


# --- DataModule -------------------------------------------------------------------------------
class How2DataModule(FusionDataModule):
    """How2 translation (en -> pt by default) from text, video and/or speech.

    Options (``conf/dataset/how2.yaml``): ``modalities`` subset of text/video/speech; ``src_lang``,
    ``tgt_lang`` (en, pt); ``test_sets`` ([dev5]); ``ark_dir`` replaces ARK_PATH in the scp files
    (default ``data_dir/features/fbank_pitch_181506``, else ``data_dir/fbank_pitch_181506``); ``video_dir`` (default
    ``data_dir/features/resnext101-action-avgpool-300h``); ``cmvn`` mean_var | mean | none;
    ``max_frames`` truncates speech (null: keep all); tokenizer options as Multi30K
    (``tokenizer``, ``vocab_size``, ``joint_vocab``, ``sp_model_type``, ``min_count``,
    ``lowercase``, ``max_len``, ``cache_dir``, ``bucketing``).
    """

    dataset_name = "how2"

    def __init__(self, data_dir: str, modalities: list[str] | None = None, src_lang: str = "en",
                 tgt_lang: str = "pt", test_sets: list[str] | tuple[str, ...] = ("dev5",),
                 ark_dir: str | None = None, video_dir: str | None = None, cmvn: str = "mean_var",
                 max_frames: int | None = None, tokenizer: str = "sentencepiece",
                 vocab_size: int = 5000, joint_vocab: bool = False, sp_model_type: str = "bpe",
                 min_count: int = 3, lowercase: bool = False, max_len: int = 100,
                 cache_dir: str | None = None, bucketing: bool = True, batch_size: int = 100,
                 eval_batch_size: int | None = None, num_workers: int = 0, seed: int = 0):
        if isinstance(test_sets, str):
            test_sets = [test_sets]
        super().__init__(data_dir, batch_size=batch_size, eval_batch_size=eval_batch_size,
                         num_workers=num_workers, seed=seed, test_names=list(test_sets))
        chosen = list(modalities) if modalities is not None else list(HOW2_MODALITIES)
        if not chosen or any(m not in HOW2_MODALITIES for m in chosen) or len(set(chosen)) != len(chosen):
            raise ConfigError(f"dataset.modalities={chosen}: choose a non-empty subset of "
                              f"{list(HOW2_MODALITIES)} without repeats")
        self.modalities = [m for m in HOW2_MODALITIES if m in chosen]
        for opt, lang in (("src_lang", src_lang), ("tgt_lang", tgt_lang)):
            if lang not in LANGS:
                raise ConfigError(f"dataset.{opt}={lang!r}: How2 has {', '.join(LANGS)}")
        if src_lang == tgt_lang:
            raise ConfigError(f"dataset.src_lang and tgt_lang are both {src_lang!r}")
        self.src_lang, self.tgt_lang = src_lang, tgt_lang
        root = Path(self.data_dir)
        self.ark_dir_given = bool(ark_dir)
        self.ark_dir = Path(ark_dir) if ark_dir else default_ark_dir(root)
        self.video_dir = Path(video_dir) if video_dir else root / VIDEO_FEATURES
        self.cmvn = check_cmvn_mode(str(cmvn))
        self.max_frames = int(max_frames) if max_frames else None
        self.tokenizer_kind = str(tokenizer)
        self.tokenizer_options = {"vocab_size": int(vocab_size), "model_type": str(sp_model_type),
                                  "lowercase": bool(lowercase), "min_count": int(min_count)}
        self.joint_vocab = bool(joint_vocab)
        self.max_len = int(max_len)
        if self.max_len < 1:
            raise ConfigError(f"dataset.max_len={self.max_len}: must be >= 1")
        self.cache_dir = Path(cache_dir) if cache_dir else default_cache_dir()
        self.bucketing = bool(bucketing)
        self.src_tokenizer: Tokenizer | None = None

    # --- files ------------------------------------------------------------------------------
    @property
    def split_names(self) -> list[str]:
        return ["train", "val"] + [t for t in self.test_names if t not in ("train", "val")]

    def split_dir(self, split: str) -> Path:
        root = Path(self.data_dir)
        if not root.is_dir():
            raise DataError(f"How2 folder {root} does not exist. {GET_HOW2}")
        folder = root / "data" / split
        if not folder.is_dir():
            raise DataError(f"{folder} is missing: {root} should be the how2-300h-v1 folder holding "
                            f"data/{{train,val,dev5}}/. {GET_HOW2}")
        return folder

    def text_files(self, split: str) -> list[Path]:
        folder = self.split_dir(split)
        files = [folder / "id", folder / f"text.id.{self.src_lang}", folder / f"text.id.{self.tgt_lang}"]
        for f in files:
            if not f.is_file():
                raise DataError(f"{f} is missing. {GET_HOW2}")
        return files

    def read_text(self, split: str) -> tuple[list[str], list[str]]:
        id_file, src_file, tgt_file = self.text_files(split)
        ids = read_ids(id_file)
        return read_id_text(src_file, ids), read_id_text(tgt_file, ids)

    def speech(self, split: str, ids: list[str]) -> KaldiFeatures:
        """Speech rows in id order; CMVN stats per speaker (utt2spk) or per segment without it."""
        folder, root = self.split_dir(split), Path(self.data_dir)
        scp = folder / "feats.scp"
        rxfiles = join_to_ids(self.read_scp(scp, "speech features"), ids, scp, "speech features")
        cmvn_rxfiles = None
        if self.cmvn != "none":
            cmvn = self.read_scp(folder / "cmvn.scp", "CMVN statistics")
            keys = ids
            if (folder / "utt2spk").is_file():
                keys = join_to_ids(read_table(folder / "utt2spk", "utt2spk"), ids,
                                   folder / "utt2spk", "speaker")
            missing = sorted(set(keys) - set(cmvn))
            if missing:
                raise DataError(f"{folder / 'cmvn.scp'} has no statistics for {len(missing)} "
                                f"speaker(s)/segment(s), e.g. {missing[:3]}; restore it or set "
                                "dataset.cmvn=none")
            cmvn_rxfiles = [cmvn[k] for k in keys]
        return KaldiFeatures(rxfiles, cmvn_rxfiles, self.cmvn, self.max_frames, source=str(scp))

    def read_scp(self, scp: Path, what: str) -> dict[str, str]:
        """:func:`read_scp` with ARK_PATH -> ark_dir; without dataset.ark_dir the error names both
        places the arks were looked for."""
        try:
            return read_scp(scp, self.ark_dir, Path(self.data_dir), what)
        except DataError as e:
            if self.ark_dir_given:
                raise
            places = " nor ".join(str(Path(self.data_dir) / d) for d in ARK_DIRS)
            raise DataError(f"{e}. The .ark files are in neither {places}: unpack the "
                            "fbank_pitch_181506 download into <data_dir>/features/, set "
                            "dataset.ark_dir, or drop 'speech' from dataset.modalities") from None

    # --- tokenization -----------------------------------------------------------------------
    def tokenizer_settings(self) -> dict:
        return {"kind": self.tokenizer_kind, "joint": self.joint_vocab, **self.tokenizer_options,
                "src": self.src_lang, "tgt": self.tgt_lang}

    def build_tokenizers(self) -> tuple[Tokenizer, Tokenizer]:
        key = cache_key(self.text_files("train"), self.tokenizer_settings())
        folder = self.cache_dir / f"how2-tokenizer-{self.src_lang}{self.tgt_lang}-{key}"
        return build_tokenizer_pair(folder, lambda: self.read_text("train"), self.tokenizer_kind,
                                    self.joint_vocab, **self.tokenizer_options)

    def tokenized(self, split: str, src_tok: Tokenizer, tgt_tok: Tokenizer) -> dict:
        key = cache_key(self.text_files(split),
                        {"tokenizer": [src_tok.fingerprint, tgt_tok.fingerprint],
                         "max_len": self.max_len, "src": self.src_lang, "tgt": self.tgt_lang})
        folder = self.cache_dir / f"how2-{split}-{self.src_lang}{self.tgt_lang}-{key}"
        return build_tokenized_split(folder, lambda: self.read_text(split), src_tok, tgt_tok,
                                     self.max_len)

    def prepare_data(self) -> None:
        """Train tokenizers and tokenize every split once (rank 0); later loads reuse the cache."""
        src_tok, tgt_tok = self.build_tokenizers()
        for split in self.split_names:
            self.tokenized(split, src_tok, tgt_tok)

    # --- load -------------------------------------------------------------------------------
    def load(self) -> None:
        src_tok, tgt_tok = self.build_tokenizers()
        self.src_tokenizer, self.tgt_tokenizer = src_tok, tgt_tok
        modalities: dict[str, ModalitySpec] = {}
        if "text" in self.modalities:
            modalities["text"] = ModalitySpec(TOKENS, src_tok.vocab_size, src_tok.pad_id)
        self.splits = {}
        for split in self.split_names:
            tokenized = TokenizedSplit(self.tokenized(split, src_tok, tgt_tok), tgt_tok.bos_id,
                                       tgt_tok.eos_id)
            id_file = self.split_dir(split) / "id"
            ids = read_ids(id_file)
            video = speech = None
            if "video" in self.modalities:
                video = VideoFeatures(self.video_dir / f"{split}.npy", len(ids), id_file)
                modalities.setdefault("video", ModalitySpec(VECTOR, video.dim))
            if "speech" in self.modalities:
                speech = self.speech(split, ids)
                if "speech" not in modalities and len(speech):
                    first = load_matrix(speech.rxfiles[0], speech.source)
                    modalities["speech"] = ModalitySpec(SEQUENCE, int(first.shape[1]))
            self.splits[split] = How2Split(tokenized, self.modalities, video, speech)
        fingerprint = (src_tok.fingerprint if self.joint_vocab
                       else f"{src_tok.fingerprint}-{tgt_tok.fingerprint}")
        self.spec = DataSpec(task=TRANSLATION, modalities=modalities, tgt_vocab_size=tgt_tok.vocab_size,
                             pad_id=tgt_tok.pad_id, bos_id=tgt_tok.bos_id, eos_id=tgt_tok.eos_id,
                             tokenizer_fingerprint=fingerprint)
