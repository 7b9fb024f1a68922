"""The translation DataModule base: what every parallel-text dataset shares.

A dataset (Multi30K, How2, the embedded synthetic sets, one of yours) subclasses
:class:`TranslationDataModule` and describes only its file layout:

- ``dataset_name``, ``corpus`` (its name in messages) and ``languages`` (the ones it has);
- :meth:`~TranslationDataModule.text_files` (split -> the files the split's text is read from; their
  size and mtime key the cache) and :meth:`~TranslationDataModule.read_text` (split -> checked
  source and target sentences, line i <-> line i);
- optionally :meth:`~TranslationDataModule.split_features` (split -> ``{modality: rows}``, e.g.
  :class:`~fusionlab.data.feature_rows.FeatureRows`), :meth:`~TranslationDataModule.check_files`
  (fail before minutes of tokenizing) and extra option checks after ``super().__init__``.

The base owns the options every translation set has (languages, test sets, tokenizer, max_len,
cache, batching), the split names (train, val, then the test sets), the tokenizer pair (trained
once on train, joint or separate), the tokenized-split cache (``cache.py``), and the
:class:`DataSpec` with the tokenizer fingerprint that checkpoints are checked against.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fusionlab.data.base import FusionDataModule
from fusionlab.data.cache import (TokenizedSplit, cache_key, default_cache_dir, load_tokenized_split,
                                  publish_dir, save_tokenized_split)
from fusionlab.data.spec import TOKENS, TRANSLATION, DataSpec, ModalitySpec
from fusionlab.data.text import Tokenizer, load_tokenizer, train_tokenizer
from fusionlab.errors import ConfigError

TEXT = "text"  # the source-text modality


class TranslationDataModule(FusionDataModule):
    """Source sentence (+ feature modalities) -> target sentence.

    Options: ``src_lang``/``tgt_lang`` (two different members of ``languages``); ``test_sets`` (split
    names); ``tokenizer`` sentencepiece | word with ``vocab_size``, ``joint_vocab`` (one vocabulary
    trained on both sides), ``sp_model_type`` (bpe | unigram), ``min_count`` (word), ``lowercase``
    (BLEU is then scored case-insensitively, case:lc); ``max_len`` truncates source and target ids
    (BOS/EOS excluded); ``cache_dir`` (default: train.py's ``paths.cache_dir``, never inside
    ``data_dir``, which may be read-only) holds tokenizers and tokenized splits; ``bucketing``
    batches train sentences of similar length.
    """

    dataset_name = "translation"
    corpus = "this dataset"
    languages: tuple[str, ...] = ()
    cache_prefix: str | None = None  # cache folder names start with it (default: dataset_name)

    def __init__(self, data_dir: str, src_lang: str = "en", tgt_lang: str = "de",
                 test_sets: list[str] | tuple[str, ...] | str = ("test",), tokenizer: str = "sentencepiece",
                 vocab_size: int = 8000, joint_vocab: bool = True, sp_model_type: str = "bpe",
                 min_count: int = 3, lowercase: bool = False, max_len: int = 100,
                 cache_dir: str | None = None, bucketing: bool = True, batch_size: int = 100,
                 eval_batch_size: int | None = None, num_workers: int = 0, seed: int = 0):
        if isinstance(test_sets, str):
            test_sets = [test_sets]
        super().__init__(data_dir, batch_size=batch_size, eval_batch_size=eval_batch_size,
                         num_workers=num_workers, seed=seed, test_names=list(test_sets))
        self.src_lang, self.tgt_lang = str(src_lang), str(tgt_lang)
        self.tokenizer_kind = str(tokenizer)
        self.vocab_size = int(vocab_size)
        self.joint_vocab = bool(joint_vocab)
        self.sp_model_type = str(sp_model_type)
        self.min_count = int(min_count)
        self.lowercase = bool(lowercase)
        self.max_len = int(max_len)
        self.cache_dir = Path(cache_dir) if cache_dir else default_cache_dir()
        self.bucketing = bool(bucketing)
        self.src_tokenizer: Tokenizer | None = None
        for opt, lang in (("src_lang", self.src_lang), ("tgt_lang", self.tgt_lang)):
            if lang not in self.languages:
                raise ConfigError(f"dataset.{opt}={lang!r}: {self.corpus} has {', '.join(self.languages)}")
        if self.src_lang == self.tgt_lang:
            raise ConfigError(f"dataset.src_lang and tgt_lang are both {self.src_lang!r}")
        if self.max_len < 1:
            raise ConfigError(f"dataset.max_len={self.max_len}: must be >= 1")

    # --- the file layout (subclasses) -----------------------------------------------------------
    def text_files(self, split: str) -> list[Path]:
        """The files ``split``'s text is read from (DataError naming one that is missing)."""
        raise NotImplementedError

    def read_text(self, split: str) -> tuple[list[str], list[str]]:
        """(source sentences, target sentences) of ``split``, checked (DataError naming the file)."""
        raise NotImplementedError

    def split_features(self, split: str, n_rows: int) -> dict[str, Any]:
        """Feature modalities of ``split``: name -> rows (``rows[i]`` a (D,) or (T, D) array, and a
        ``modality_spec()``); ``n_rows`` is the number of sentences. Default: none (text only)."""
        return {}

    def check_files(self) -> None:
        """Called before tokenizing: raise DataError for files that would fail later anyway."""

    @property
    def reads_source_text(self) -> bool:
        """Whether the source sentence is a model input (the ``text`` modality)."""
        return True

    # --- options --------------------------------------------------------------------------------
    @property
    def split_names(self) -> list[str]:
        return ["train", "val"] + [t for t in self.test_names if t not in ("train", "val")]

    def tokenizer_options(self) -> dict:
        """Keyword arguments of :func:`train_tokenizer` besides the kind."""
        return {"vocab_size": self.vocab_size, "model_type": self.sp_model_type,
                "lowercase": self.lowercase, "min_count": self.min_count}

    # --- cache keys (what a cached tokenizer / split depends on) --------------------------------
    def tokenizer_settings(self) -> dict:
        return {"kind": self.tokenizer_kind, "vocab_size": self.vocab_size, "joint": self.joint_vocab,
                "sp_model_type": self.sp_model_type, "min_count": self.min_count,
                "lowercase": self.lowercase, "src": self.src_lang, "tgt": self.tgt_lang}

    def split_settings(self, split: str, src_tok: Tokenizer, tgt_tok: Tokenizer) -> dict:
        return {"tokenizer": f"{src_tok.fingerprint}-{tgt_tok.fingerprint}", "max_len": self.max_len,
                "src": self.src_lang, "tgt": self.tgt_lang, "split": split}

    def split_meta(self, split: str, n: int, src_tok: Tokenizer, tgt_tok: Tokenizer) -> dict:
        """What a tokenized split's meta.json records (informative; not part of the key)."""
        return {"split": split, "n": n, "tokenizer": f"{src_tok.fingerprint}-{tgt_tok.fingerprint}"}

    def cache_folder(self, kind: str, files: list[Path], settings: dict) -> Path:
        """``<cache_dir>/<prefix>-<kind>-<src><tgt>-<hash of the files' stamps and the settings>``."""
        key = cache_key(files, settings)
        prefix = self.cache_prefix or self.dataset_name
        return self.cache_dir / f"{prefix}-{kind}-{self.src_lang}{self.tgt_lang}-{key}"

    # --- tokenizers and tokenized splits ----------------------------------------------------------
    def build_tokenizers(self) -> tuple[Tokenizer, Tokenizer]:
        """Train (once, into the cache) and load the source and target tokenizers on the train split."""
        folder = self.cache_folder("tokenizer", self.text_files("train"), self.tokenizer_settings())

        def build(tmp: Path) -> None:
            src_text, tgt_text = self.read_text("train")
            kind, options = self.tokenizer_kind, self.tokenizer_options()
            if self.joint_vocab:
                src = tgt = train_tokenizer(kind, src_text + tgt_text, **options)
            else:
                src, tgt = train_tokenizer(kind, src_text, **options), train_tokenizer(kind, tgt_text, **options)
            src.save(tmp / "src.json")
            tgt.save(tmp / "tgt.json")

        publish_dir(build, folder)
        return load_tokenizer(folder / "src.json"), load_tokenizer(folder / "tgt.json")

    def tokenized(self, split: str, src_tok: Tokenizer, tgt_tok: Tokenizer) -> Path:
        """The cache folder of ``split`` tokenized with this pair (written on first use)."""
        folder = self.cache_folder(split, self.text_files(split), self.split_settings(split, src_tok, tgt_tok))

        def build(tmp: Path) -> None:
            src_text, tgt_text = self.read_text(split)
            src_ids = [ids[: self.max_len] for ids in src_tok.encode_batch(src_text)]
            tgt_ids = [ids[: self.max_len] for ids in tgt_tok.encode_batch(tgt_text)]
            save_tokenized_split(tmp, src_ids, tgt_ids, src_text, tgt_text,
                                 self.split_meta(split, len(src_ids), src_tok, tgt_tok))

        return publish_dir(build, folder)

    def fingerprint(self, src_tok: Tokenizer, tgt_tok: Tokenizer) -> str:
        """The vocabulary identity a checkpoint is checked against."""
        return src_tok.fingerprint if self.joint_vocab else f"{src_tok.fingerprint}-{tgt_tok.fingerprint}"

    # --- LightningDataModule ----------------------------------------------------------------------
    def prepare_data(self) -> None:
        """Train tokenizers and write every split's tokenized cache (rank 0; later loads reuse it)."""
        self.check_files()
        src_tok, tgt_tok = self.build_tokenizers()
        for split in self.split_names:
            self.tokenized(split, src_tok, tgt_tok)

    def bucket_lengths(self, split: str) -> tuple[Any, Any]:
        """Source and target (+BOS/EOS) token counts of the tokenized ``split``."""
        tokenized = self.splits[split]
        return tokenized.lengths, tokenized.target_lengths

    def load(self) -> None:
        self.check_files()
        src_tok, tgt_tok = self.build_tokenizers()
        self.src_tokenizer, self.tgt_tokenizer = src_tok, tgt_tok
        modalities: dict[str, ModalitySpec] = {}
        if self.reads_source_text:
            modalities[TEXT] = ModalitySpec(TOKENS, src_tok.vocab_size, src_tok.pad_id)
        self.splits = {}
        for split in self.split_names:
            cached = load_tokenized_split(self.tokenized(split, src_tok, tgt_tok))
            features = self.split_features(split, len(cached["tgt_text"]))
            for name, rows in features.items():
                if name not in modalities and len(rows):
                    modalities[name] = rows.modality_spec()
            self.splits[split] = TokenizedSplit(cached, tgt_tok.bos_id, tgt_tok.eos_id, features,
                                                text=self.reads_source_text)
        self.spec = DataSpec(task=TRANSLATION, modalities=modalities, tgt_vocab_size=tgt_tok.vocab_size,
                             pad_id=tgt_tok.pad_id, bos_id=tgt_tok.bos_id, eos_id=tgt_tok.eos_id,
                             tokenizer_fingerprint=self.fingerprint(src_tok, tgt_tok),
                             joint_vocab=self.joint_vocab)
