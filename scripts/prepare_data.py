"""Prepare a dataset once: check the download, build tokenizers and caches, print a summary.

    python scripts/prepare_data.py multi30k --data-dir data/multi30k [--set tgt_lang=fr features=none]
    python scripts/prepare_data.py synthetic_mt --data-dir data/synthetic_mt

``--set key=value`` passes DataModule options (the ``dataset.*`` keys of conf/dataset/<name>.yaml;
values are parsed as YAML; an unknown key is refused with the list of valid ones). Caches go to the
folder ``python train.py`` reads when started in the same folder (``paths.cache_dir``, by default
``./data/.cache``; ``--cache-dir`` to change it), never into the data folder, which may be read-only.
Multi30K without image features (the text-only release) is prepared as text, with a note saying so.
Each dataset is one entry of :data:`PREPARERS`: a function taking the parsed arguments and
returning a JSON-serializable summary. A mistake prints one ``fusionlab: error: ...`` line, exit 1.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def parse_sets(items: list[str], dataset: str) -> dict:
    """``["a=1", "b=[x, y]"]`` -> ``{"a": 1, "b": ["x", "y"]}`` (values parsed as YAML); ConfigError
    for an item without ``=`` or a key that is not an option of conf/dataset/<dataset>.yaml (checked
    before any DataModule, and so torch, is imported)."""
    import yaml

    from fusionlab.errors import ConfigError

    valid = dataset_options(dataset)
    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        key = key.strip().removeprefix("dataset.")
        if not sep or not key:
            raise ConfigError(f"--set {item!r}: use key=value, e.g. --set tgt_lang=fr")
        if key not in valid:
            raise ConfigError(f"--set {item}: unknown option {key!r} of {dataset}; valid options: "
                              f"{', '.join(sorted(valid))}")
        try:
            out[key] = yaml.safe_load(value)
        except yaml.YAMLError as e:
            raise ConfigError(f"--set {item}: the value is not valid YAML ({e.problem})") from None
    return out


def dataset_options(dataset: str) -> set[str]:
    """The ``dataset.*`` keys of conf/dataset/<dataset>.yaml (``data_dir`` is --data-dir)."""
    from omegaconf import OmegaConf

    from fusionlab.config_dir import CONF_DIR

    node = OmegaConf.load(Path(CONF_DIR) / "dataset" / f"{dataset}.yaml").get("dataset", {})
    return set(node) - {"_target_", "data_dir"}


def percentiles(lengths: np.ndarray) -> dict:
    q = np.percentile(lengths, [50, 90, 99]) if len(lengths) else [0, 0, 0]
    return {"mean": round(float(np.mean(lengths)), 2) if len(lengths) else 0.0,
            "p50": int(q[0]), "p90": int(q[1]), "p99": int(q[2]), "max": int(lengths.max(initial=0))}


def translation_summary(dm) -> dict:
    """Splits, sizes, vocabulary, length percentiles, train padding ratio with/without bucketing."""
    from fusionlab.data.bucketing import bucketed_batches, padding_ratio, random_batches

    train = dm.splits["train"]
    summary = {"dataset": dm.dataset_name, "data_dir": dm.data_dir, "src_lang": dm.src_lang,
               "tgt_lang": dm.tgt_lang, "tokenizer": dm.tokenizer_kind,
               "src_vocab": dm.src_tokenizer.vocab_size, "tgt_vocab": dm.tgt_tokenizer.vocab_size,
               "fingerprint": dm.spec.tokenizer_fingerprint,
               "modalities": {k: f"{m.kind}({m.dim})" for k, m in dm.spec.modalities.items()},
               "splits": {}}
    for name, ds in dm.splits.items():
        summary["splits"][name] = {"n": len(ds), "src_len": percentiles(ds.lengths),
                                   "tgt_len": percentiles(ds.target_lengths - 2)}
    bs = dm.batch_size
    summary["padding_ratio_src"] = {
        "batch_size": bs,
        "random": round(padding_ratio(random_batches(len(train), bs, dm.seed), train.lengths), 4),
        "bucketed": round(padding_ratio(bucketed_batches(train.lengths, bs, dm.seed), train.lengths), 4)}
    return summary


def translation_options(args: argparse.Namespace) -> dict:
    """The --set options, the cache folder from --cache-dir unless --set gives one."""
    return {"cache_dir": args.cache_dir, **args.options}


def prepare_translation(module_cls, args: argparse.Namespace, **options) -> dict:
    dm = module_cls(args.data_dir, **{**translation_options(args), **options})
    dm.prepare_data()
    dm.setup("fit")
    return {**translation_summary(dm), "cache_dir": str(dm.cache_dir)}


def prepare_multi30k(args: argparse.Namespace) -> dict:
    """Multi30K; without image features (the text-only release) and no explicit ``features``, the
    text is prepared and the summary says how to train on it."""
    from fusionlab.data.multi30k import Multi30kDataModule

    options = translation_options(args)
    missing = [] if "features" in options else \
        Multi30kDataModule(args.data_dir, **options).missing_feature_files()
    if not missing:
        return prepare_translation(Multi30kDataModule, args)
    summary = prepare_translation(Multi30kDataModule, args, features="none")
    summary["image_features"] = (f"absent ({missing[0].parent} has no {missing[0].name}): prepared the "
                                 "text only; train with dataset.features=none or fusion=text_only, or "
                                 "put the *-resnet50-avgpool.npy files in dataset.features_dir")
    return summary


def prepare_synthetic_mt(args: argparse.Namespace) -> dict:
    from fusionlab.data.synthetic_mt import SyntheticMTDataModule, text_only_bleu_ceiling

    summary = prepare_translation(SyntheticMTDataModule, args)
    summary["bleu_ceiling"] = text_only_bleu_ceiling(args.data_dir)
    return summary


def affect_summary(dm) -> dict:
    """CMU-style pickles: split sizes, modality lengths, non-finite values zeroed, label balance."""
    summary = {"dataset": dm.dataset_name, "data_dir": dm.data_dir, "file": str(dm.pickle_path),
               "task": dm.spec.task,
               "modalities": {k: f"{m.kind}({m.dim})" for k, m in dm.spec.modalities.items()},
               "splits": {}}
    for name, ds in dm.splits.items():
        info = {"n": len(ds), "lengths": {m: percentiles(ds.lengths(m)) for m in dm.spec.modalities},
                "nonfinite_zeroed": ds.replaced}
        if dm.spec.label_names:
            info["positive_rate"] = {label: round(float(rate), 3) for label, rate
                                     in zip(dm.spec.label_names, ds.targets.mean(axis=0))}
        else:
            info["target"] = {"mean": round(float(ds.targets.mean()), 3),
                              "std": round(float(ds.targets.std()), 3),
                              "min": float(ds.targets.min()), "max": float(ds.targets.max())}
        summary["splits"][name] = info
    return summary


def prepare_affect(module_cls, args: argparse.Namespace) -> dict:
    dm = module_cls(args.data_dir, **args.options)
    dm.prepare_data()
    dm.setup("fit")
    return affect_summary(dm)


def preparer(prepare: Callable, target: str) -> Callable[[argparse.Namespace], dict]:
    """``prepare(<the DataModule class named target>, args)``; the class is imported when it runs."""
    def run(args: argparse.Namespace) -> dict:
        from hydra.utils import get_class

        return prepare(get_class(target), args)

    return run


PREPARERS: dict[str, Callable[[argparse.Namespace], dict]] = {
    "multi30k": prepare_multi30k,
    "synthetic_mt": prepare_synthetic_mt,
    "iemocap": preparer(prepare_affect, "fusionlab.data.cmu_pickle.IemocapDataModule"),
    "mosi": preparer(prepare_affect, "fusionlab.data.cmu_pickle.MosiDataModule"),
    "mosei": preparer(prepare_affect, "fusionlab.data.cmu_pickle.MoseiDataModule"),
    "synthetic_emotion": preparer(prepare_affect, "fusionlab.data.synthetic_emotion.SyntheticEmotionDataModule"),
    "how2": preparer(prepare_translation, "fusionlab.data.how2.How2DataModule"),
}


def print_summary(summary: dict) -> None:
    splits = summary.pop("splits", {})
    for key, value in summary.items():
        print(f"{key:>18}: {value}")
    if splits and not all("src_len" in s for s in splits.values()):  # affect datasets
        for name, s in splits.items():
            print(f"{name:>18}: {json.dumps(s)}")
    elif splits:
        print(f"\n{'split':<18}{'n':>8}  {'src len mean/p50/p90/p99/max':<32}{'tgt len mean/p50/p90/p99/max'}")
        for name, s in splits.items():
            fmt = lambda d: f"{d['mean']}/{d['p50']}/{d['p90']}/{d['p99']}/{d['max']}"  # noqa: E731
            print(f"{name:<18}{s['n']:>8}  {fmt(s['src_len']):<32}{fmt(s['tgt_len'])}")
    summary["splits"] = splits


class ArgumentParser(argparse.ArgumentParser):
    """argparse whose usage errors are one ``fusionlab: error: ...`` line (exit 2)."""

    def error(self, message: str):
        self.exit(2, f"fusionlab: error: {message} (see {self.prog} --help)\n")


def main(argv: list[str] | None = None) -> int:
    from fusionlab.run.guard import one_line
    from fusionlab.errors import FusionlabError

    parser = ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("dataset", choices=sorted(PREPARERS))
    parser.add_argument("--data-dir", required=True, help="the dataset folder (release root)")
    parser.add_argument("--cache-dir", default=None,
                        help="tokenizer/tokenized-split cache folder (default: train.py's paths.cache_dir)")
    parser.add_argument("--set", nargs="+", action="extend", default=[], metavar="KEY=VALUE",
                        help="DataModule options (several after one --set, or --set repeated)")
    parser.add_argument("--json", default=None, help="also write the summary to this JSON file")
    args = parser.parse_args(argv)
    try:
        args.options = parse_sets(args.set, args.dataset)
        if args.cache_dir is None:
            from fusionlab.data.cache import default_cache_dir

            args.cache_dir = str(default_cache_dir())
        summary = PREPARERS[args.dataset](args)
    except FusionlabError as e:
        print(f"fusionlab: error: {one_line(e)}", file=sys.stderr)
        return 1
    print_summary(summary)
    if args.json:
        Path(args.json).write_text(json.dumps(summary, indent=1, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
