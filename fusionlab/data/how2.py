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
from pathlib import Path

from fusionlab.data.feature_rows import FeatureRows
from fusionlab.data.kaldi import KaldiFeatures, check_cmvn_mode, read_scp, read_table
from fusionlab.data.translation import TranslationDataModule
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


def default_ark_dir(root: Path) -> Path:
    """The first of :data:`ARK_DIRS` under ``root`` that exists (the release's place if none does)."""
    return next((root / d for d in ARK_DIRS if (root / d).is_dir()), root / ARK_DIRS[0])


# --- DataModule -------------------------------------------------------------------------------
class How2DataModule(TranslationDataModule):
    """How2 translation (en -> pt by default) from text, video and/or speech.

    Options (``conf/dataset/how2.yaml``): those of :class:`TranslationDataModule` (languages en, pt;
    ``test_sets`` [dev5]), ``modalities`` subset of text/video/speech; ``ark_dir`` replaces ARK_PATH
    in the scp files (default ``data_dir/features/fbank_pitch_181506``, else
    ``data_dir/fbank_pitch_181506``); ``video_dir`` (default
    ``data_dir/features/resnext101-action-avgpool-300h``); ``cmvn`` mean_var | mean | none;
    ``max_frames`` truncates speech (null: keep all).
    """

    dataset_name = "how2"
    corpus = "How2"
    languages = LANGS
    # cache folders are named how2-* for every subclass (synthetic_how2 too), as before the shared
    # base: another name would make users' caches unreachable
    cache_prefix = "how2"

    def __init__(self, data_dir: str, modalities: list[str] | None = None, tgt_lang: str = "pt",
                 test_sets: list[str] | tuple[str, ...] = ("dev5",), ark_dir: str | None = None,
                 video_dir: str | None = None, cmvn: str = "mean_var", max_frames: int | None = None,
                 vocab_size: int = 5000, joint_vocab: bool = False, **options):
        chosen = list(modalities) if modalities is not None else list(HOW2_MODALITIES)
        if not chosen or any(m not in HOW2_MODALITIES for m in chosen) or len(set(chosen)) != len(chosen):
            raise ConfigError(f"dataset.modalities={chosen}: choose a non-empty subset of "
                              f"{list(HOW2_MODALITIES)} without repeats")
        super().__init__(data_dir, tgt_lang=tgt_lang, test_sets=test_sets, vocab_size=vocab_size,
                         joint_vocab=joint_vocab, **options)
        self.modalities = [m for m in HOW2_MODALITIES if m in chosen]
        root = Path(self.data_dir)
        self.ark_dir_given = bool(ark_dir)
        self.ark_dir = Path(ark_dir) if ark_dir else default_ark_dir(root)
        self.video_dir = Path(video_dir) if video_dir else root / VIDEO_FEATURES
        self.cmvn = check_cmvn_mode(str(cmvn))
        self.max_frames = int(max_frames) if max_frames else None

    @property
    def reads_source_text(self) -> bool:
        return "text" in self.modalities

    # --- files ------------------------------------------------------------------------------
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

    # --- features ---------------------------------------------------------------------------
    def split_features(self, split: str, n_rows: int) -> dict:
        """video: (2048,) rows of ``video_dir/{split}.npy``; speech: (T, 43) Kaldi matrices with CMVN."""
        id_file = self.split_dir(split) / "id"
        ids = read_ids(id_file)
        features = {}
        if "video" in self.modalities:
            features["video"] = FeatureRows(
                self.video_dir / f"{split}.npy", len(ids), row_shape=(None,), what="video features",
                rows_of=f"{id_file} lists {len(ids)} segments; row i must belong to line i of the id file",
                missing="download the resnext101-action-avgpool-300h features, set dataset.video_dir, or "
                        "drop 'video' from dataset.modalities. " + GET_HOW2,
                options="dataset.video_dir")
        if "speech" in self.modalities:
            features["speech"] = self.speech(split, ids)
        return features

    def speech(self, split: str, ids: list[str]) -> KaldiFeatures:
        """Speech rows in id order; CMVN stats per speaker (utt2spk) or per segment without it."""
        folder = self.split_dir(split)
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

    # --- cache keys as How2 wrote them before the shared base (others would orphan users' caches)
    def tokenizer_settings(self) -> dict:
        settings = super().tokenizer_settings()
        settings["model_type"] = settings.pop("sp_model_type")
        return settings

    def split_settings(self, split: str, src_tok, tgt_tok) -> dict:
        return {"tokenizer": [src_tok.fingerprint, tgt_tok.fingerprint], "max_len": self.max_len,
                "src": self.src_lang, "tgt": self.tgt_lang}

    def split_meta(self, split: str, n: int, src_tok, tgt_tok) -> dict:
        return {"n": n}
