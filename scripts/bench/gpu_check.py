"""GPU check (issue 13): one prepared run proving the CUDA path, reported in one JSON + a table.

    scripts/bench/gpu_check.sh [--quick] [--cpu] [--out bench_results/gpu_check.json]
        [--data-dir DIR] [--multi30k-dir DIR] [--multi30k-minutes 5] [--budget-minutes 8]

With CUDA (at most ~8 minutes of wall time on one GPU):
  (a) a fast_dev_run of concat, gan, mult and tfn on translation (synthetic_mt) and classification
      (synthetic_emotion) with `python train.py -m trainer=gpu trainer.precision=bf16-mixed ...`
      (one Hydra multirun: one start-up for the eight jobs; each job's metrics.json/error.json read);
  (b) `python train.py trainer=ddp` on all visible GPUs for GAN-Fusion on synthetic_mt and concat on
      synthetic_emotion: test/num_samples must equal the test split's size (from the run's config) and
      the one-device `python eval.py ckpt_path=<best.ckpt>` count; the checkpoint must load;
  (c) training throughput (samples/s; steps timed between CUDA synchronizations) and peak GPU memory
      (torch.cuda.max_memory_allocated) of GAN-Fusion translation at batch 100 and 1000, fp32 and
      bf16-mixed, against this machine's CPU on 2 threads at batch 100 (the issue's 2-core figure);
  (d) scripts/bench/multi30k_text.py (`experiment=multi30k_text`, trainer=gpu) for --multi30k-minutes
      of training (trainer.max_time) on the real Multi30K, test BLEU reached. It runs in the background
      while (a) and (b) run, so that the whole check fits in the budget; (c) runs before it, alone.
Without CUDA (or with --cpu) the CPU-side steps run instead: (a) with trainer=cpu in fp32 and
bf16-mixed, (b) with trainer=ddp_cpu (2 gloo processes), (c) at batch 100 on CPU for a few steps, a
check that trainer=gpu is refused with one clear line; every GPU step is skipped with one line saying
why, and the exit status is 0 unless a step that ran failed. --quick runs a small subset (the test).

On a machine without internet whose python3 holds torch, lightning, sacrebleu and sentencepiece
(the lent H200 image), these travel as wheels in an ignored .whl/ (pip download --no-deps; antlr4 4.9.3
has no wheel on PyPI: `pip wheel --no-deps antlr4-python3-runtime==4.9.3 -w .whl`): hydra-core==1.3.8
omegaconf==2.3.1 antlr4-python3-runtime==4.9.3 datasets==5.2.0 dill==0.4.1 multiprocess==0.70.19
sacremoses==0.2.0; Multi30K (3 MB of text) travels as a copy of ../shared/data/multi30k in an ignored
folder (.m30k/multi30k, then --multi30k-dir .m30k). The env step names any module still missing.
"""

from __future__ import annotations

import argparse
import datetime as dt
import gc
import importlib.util
import json
import math
import os
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

FUSIONS = ("concat", "gan", "mult", "tfn")
TASKS = {"synthetic_mt": "translation", "synthetic_emotion": "classification"}
DDP_PAIRS = (("gan", "synthetic_mt"), ("concat", "synthetic_emotion"))
THROUGHPUT_BATCHES = (100, 1000)
PRECISIONS = ("32-true", "bf16-mixed")
NEEDED_MODULES = ("torch", "lightning", "hydra", "omegaconf", "sacrebleu", "sentencepiece", "pyarrow",
                  "sacremoses")
QUIET = ["logger=none", "callbacks.progress_bar=null"]
GOALS = {"gpu_over_cpu_throughput": 20.0, "multi30k_bleu_10min": 41.0}


@dataclass
class Step:
    """One line of the report: ``status`` is ok, failed or skipped, ``reason`` says why."""

    id: str
    title: str
    status: str = "ok"
    reason: str = ""
    seconds: float = 0.0
    command: str = ""
    result: dict = field(default_factory=dict)


class Report:
    def __init__(self):
        self.steps: list[Step] = []

    def add(self, step: Step) -> Step:
        self.steps.append(step)
        if step.status == "skipped":
            print(f"SKIP {step.id}: {step.reason}", flush=True)
        else:
            tail = f" ({step.reason})" if step.reason else ""
            print(f"{step.status.upper():6s} {step.id} [{step.seconds:.1f} s]{tail}", flush=True)
        return step

    def skip(self, id_: str, title: str, reason: str) -> Step:
        return self.add(Step(id_, title, status="skipped", reason=reason))

    def table(self) -> str:
        rows = ["| step | status | seconds | result / reason |", "|---|---|---|---|"]
        for s in self.steps:
            what = s.reason or ", ".join(f"{k}={fmt(v)}" for k, v in s.result.items() if shown_in_table(k, v))
            rows.append(f"| {s.id} | {s.status} | {s.seconds:.1f} | {what} |")
        return "\n".join(rows)


def shown_in_table(key: str, value) -> bool:
    """Scalars only, and of a run's many test metrics the headline ones."""
    if isinstance(value, (dict, list)):
        return False
    return not key.startswith("test/") or key in ("test/bleu", "test/f1_mean", "test/num_samples")


def fmt(v) -> str:
    return f"{v:.4g}" if isinstance(v, float) else str(v)


@dataclass
class Context:
    cuda: bool
    quick: bool
    out_dir: Path
    data_args: list[str]
    deadline: float  # time.monotonic() by which everything must be done

    def left(self) -> float:
        return self.deadline - time.monotonic()


# --- running the command line -----------------------------------------------------------------
def child_env() -> dict:
    env = {**os.environ, "WANDB_MODE": "offline", "WANDB_SILENT": "true", "HF_DATASETS_OFFLINE": "1",
           "HF_HUB_OFFLINE": "1", "PYTHONWARNINGS": "ignore", "PYTHONUNBUFFERED": "1"}
    for key in ("LOCAL_RANK", "RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT"):
        env.pop(key, None)
    return env


def run_python(args: list[str], log: Path, timeout: float) -> tuple[int, str]:
    """`python <args>` in the project root, output to ``log``; (exit status, last lines of output).
    Exit status 124 when it ran past ``timeout`` seconds."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "w") as f:
        try:
            rc = subprocess.run([sys.executable, *args], cwd=ROOT, env=child_env(), stdout=f,
                                stderr=subprocess.STDOUT, timeout=max(1.0, timeout)).returncode
        except subprocess.TimeoutExpired:
            rc = 124
    return rc, tail_of(log)


def tail_of(log: Path, lines: int = 3) -> str:
    text = log.read_text(errors="replace").strip().splitlines() if log.is_file() else []
    return " | ".join(line.strip() for line in text[-lines:])[-400:]


def shown(args: list[str]) -> str:
    return "python " + " ".join(args)


def read_json(path: Path) -> dict | None:
    return json.loads(path.read_text()) if path.is_file() else None


# --- environment ------------------------------------------------------------------------------
def environment(report: Report, force_cpu: bool) -> dict | None:
    """What this machine has; None (and a failed step) when a needed module is missing."""
    missing = [m for m in NEEDED_MODULES if importlib.util.find_spec(m) is None]
    if missing:
        report.add(Step("env", "needed Python modules", status="failed",
                        reason=f"missing {', '.join(missing)}: install them (pip install -e . here; "
                               "on the device machine carry hydra-core/omegaconf/antlr4 wheels)"))
        return None
    import torch

    cuda = torch.cuda.is_available() and not force_cpu
    env = {"torch": torch.__version__, "cuda_available": torch.cuda.is_available(),
           "cuda_used": cuda, "cuda_version": torch.version.cuda, "python": sys.version.split()[0],
           "cpu_count": os.cpu_count(), "load_average_1min": os.getloadavg()[0]}
    if torch.cuda.is_available():
        env["gpus"] = [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
        env["bf16_supported"] = torch.cuda.is_bf16_supported()
    report.add(Step("env", "environment", result={k: v for k, v in env.items() if k != "gpus"}
                    | {"gpus": len(env.get("gpus", []))}))
    return env


# --- (a) fast_dev_run of each fusion and task ------------------------------------------------
def fast_dev_runs(ctx: Context, report: Report) -> None:
    trainer = "gpu" if ctx.cuda else "cpu"
    precisions = ("bf16-mixed",) if ctx.cuda or ctx.quick else PRECISIONS
    fusions = ("gan",) if ctx.quick else FUSIONS
    sweep = ctx.out_dir / "a_fast_dev_run"
    args = ["train.py", "-m", f"trainer={trainer}", f"dataset={','.join(TASKS)}",
            f"fusion={','.join(fusions)}", f"trainer.precision={','.join(precisions)}",
            "++trainer.fast_dev_run=true", *QUIET, *ctx.data_args, f"hydra.sweep.dir={sweep}",
            "hydra.sweep.subdir=${hydra.job.num}"]
    t0 = time.monotonic()
    rc, tail = run_python(args, ctx.out_dir / "a_fast_dev_run.log", ctx.left())
    jobs = {}
    for job in sweep.glob("[0-9]*"):
        overrides = dict(o.split("=", 1) for o in read_overrides(job))
        jobs[(overrides.get("dataset"), overrides.get("fusion"), overrides.get("trainer.precision"))] = job
    seconds = (time.monotonic() - t0) / max(1, len(jobs))
    for dataset, task in TASKS.items():
        for fusion in fusions:
            for precision in precisions:
                step = Step(f"a.{task}.{fusion}.{precision}", f"fast_dev_run on {trainer}",
                            seconds=seconds, command=shown(args))
                job = jobs.get((dataset, fusion, precision))
                metrics = read_json(job / "metrics.json") if job else None
                error = read_json(job / "error.json") if job else None
                if error:
                    step.status, step.reason = "failed", f"{error['error_type']}: {error['message'][:300]}"
                elif not metrics:
                    step.status = "failed"
                    step.reason = f"job did not run (exit {rc}: {tail})"
                else:
                    step.result = {k: v for k, v in metrics.items() if k.startswith("test/")}
                report.add(step)


def read_overrides(job: Path) -> list[str]:
    path = job / ".hydra" / "overrides.yaml"
    if not path.is_file():
        return []
    from omegaconf import OmegaConf

    return [str(o) for o in OmegaConf.load(path)]


# --- (b) DDP ----------------------------------------------------------------------------------
def declared_test_size(run_dir: Path) -> int | None:
    """The test split's size as the run's config declares it (synthetic datasets only)."""
    from omegaconf import OmegaConf

    cfg = OmegaConf.load(run_dir / ".hydra" / "config.yaml").dataset
    if "test_size" in cfg:
        return int(cfg.test_size)
    sizes = {k: v for k, v in (cfg.get("sizes") or {}).items() if k not in ("train", "val")}
    return int(next(iter(sizes.values()))) if len(sizes) == 1 else None


def ddp_runs(ctx: Context, report: Report) -> None:
    trainer = "ddp" if ctx.cuda else "ddp_cpu"
    eval_trainer = "gpu" if ctx.cuda else "cpu"
    limit = [] if ctx.cuda else ["++trainer.limit_train_batches=4", "++trainer.limit_val_batches=2"]
    for fusion, dataset in DDP_PAIRS:
        id_ = f"b.ddp.{TASKS[dataset]}.{fusion}"
        if ctx.quick:
            report.skip(id_, "DDP", "--quick (the full check runs it)")
            continue
        run_dir = ctx.out_dir / f"b_{dataset}_{fusion}"
        args = ["train.py", f"trainer={trainer}", f"dataset={dataset}", f"fusion={fusion}", "max_epochs=1",
                *limit, *QUIET, *ctx.data_args, f"hydra.run.dir={run_dir}"]
        t0 = time.monotonic()
        step = Step(id_, f"trainer={trainer}, then eval.py on one device", command=shown(args))
        rc, tail = run_python(args, ctx.out_dir / f"b_{dataset}_{fusion}.log", ctx.left())
        metrics = read_json(run_dir / "metrics.json")
        if rc != 0 or not metrics:
            step.status, step.reason = "failed", f"train.py exit {rc}: {tail}"
        else:
            check_ddp_run(ctx, step, run_dir, metrics, eval_trainer)
        step.seconds = time.monotonic() - t0
        report.add(step)


def check_ddp_run(ctx: Context, step: Step, run_dir: Path, metrics: dict, eval_trainer: str) -> None:
    """DDP's gathered test count == declared test size == one-device eval's; the checkpoint loads."""
    best = metrics.get("best_model_path") or str(run_dir / "checkpoints" / "best.ckpt")
    eval_dir = run_dir / "eval"
    args = ["eval.py", f"ckpt_path={best}", f"trainer={eval_trainer}", f"hydra.run.dir={eval_dir}"]
    step.command += f" && {shown(args)}"
    rc, tail = run_python(args, run_dir / "eval.log", ctx.left())
    evaluated = read_json(eval_dir / "metrics.json") or {}
    expected = declared_test_size(run_dir)
    ddp_n, one_n = metrics.get("test/num_samples"), evaluated.get("test/num_samples")
    headline = "test/bleu" if "test/bleu" in metrics else "test/f1_mean"
    step.result = {"expected_test_size": expected, "ddp_test_num_samples": ddp_n,
                   "eval_one_device_num_samples": one_n, "headline_metric": headline,
                   "ddp_minus_one_device": metrics.get(headline, math.nan) - evaluated.get(headline, math.nan),
                   "ddp_test_metrics": {k: v for k, v in metrics.items() if k.startswith("test/")},
                   "eval_test_metrics": evaluated}
    problems = []
    if rc != 0:
        problems.append(f"eval.py of {best} failed (exit {rc}: {tail})")
    if ddp_n is None or expected is None or int(ddp_n) != expected:
        problems.append(f"DDP test/num_samples {ddp_n} != test split size {expected}")
    if rc == 0 and (one_n is None or ddp_n is None or int(one_n) != int(ddp_n)):
        problems.append(f"one-device eval counted {one_n} test samples, DDP {ddp_n}")
    if problems:
        step.status, step.reason = "failed", "; ".join(problems)


# --- (c) throughput and peak memory ---------------------------------------------------------
def throughput(ctx: Context, report: Report, steps: int, warmup: int) -> None:
    """GAN-Fusion translation training samples/s through Lightning, per batch size and precision."""
    if ctx.cuda:
        configs = [("gpu", b, p) for b in THROUGHPUT_BATCHES for p in PRECISIONS] + [("cpu", 100, "32-true")]
    else:
        configs = [("cpu", 100, p) for p in (PRECISIONS[:1] if ctx.quick else PRECISIONS)]
    for accelerator, batch, precision in configs:
        id_ = f"c.throughput.{accelerator}.b{batch}.{precision}"
        t0 = time.monotonic()
        try:
            result = measure_throughput(ctx, accelerator, batch, precision, steps, warmup)
            step = Step(id_, "GAN-Fusion translation training throughput", result=result)
        except Exception as e:  # an OOM or a CUDA error is a result of the check, not a crash of it
            step = Step(id_, "GAN-Fusion translation training throughput", status="failed",
                        reason=f"{type(e).__name__}: {str(e).splitlines()[0][:300]}")
        step.seconds = time.monotonic() - t0
        report.add(step)
    if ctx.cuda:
        import torch

        torch.cuda.empty_cache()  # leave the GPU's memory to the runs that follow
    cpu = next((s for s in report.steps if s.id == "c.throughput.cpu.b100.32-true" and s.status == "ok"), None)
    for s in report.steps:
        if cpu and s.id.startswith("c.throughput.gpu.") and s.status == "ok":
            s.result["speedup_over_cpu_2_threads"] = s.result["samples_per_s"] / cpu.result["samples_per_s"]


def measure_throughput(ctx: Context, accelerator: str, batch: int, precision: str, steps: int,
                       warmup: int) -> dict:
    import torch

    from fusionlab.run.build import build_datamodule, build_model
    from scripts.bench.overhead import NO_SCHEDULE, compose, lightning_loop, training_batches

    threads = torch.get_num_threads()
    if accelerator == "cpu":
        torch.set_num_threads(2)  # the 2-core CPU figure
    try:
        cfg = compose(["fusion=gan", "dataset=synthetic_mt", f"dataset.batch_size={batch}", *NO_SCHEDULE,
                       *ctx.data_args], ctx.out_dir / "c_throughput")
        torch.manual_seed(0)
        dm = build_datamodule(cfg.dataset)
        batches = training_batches(dm, steps + warmup)
        model = build_model(cfg, dm.spec)
        if accelerator == "gpu":  # the peak of this configuration alone
            gc.collect()
            torch.cuda.empty_cache()
            torch.cuda.reset_peak_memory_stats()
        times = lightning_loop(model, batches, warmup, accelerator=accelerator, precision=precision)
        samples = sum(len(b) for b in batches[warmup:warmup + len(times)])  # Batch.__len__: rows
        result = {"samples_per_s": samples / sum(times), "ms_per_step": 1000 * sum(times) / len(times),
                  "timed_steps": len(times), "torch_threads": torch.get_num_threads()}
        if accelerator == "gpu":
            result["peak_gpu_memory_mb"] = torch.cuda.max_memory_allocated() / 2**20
        return result
    finally:
        torch.set_num_threads(threads)


# --- (d) Multi30K text recipe for a few minutes -----------------------------------------------
def find_multi30k(explicit: str | None) -> Path | None:
    from scripts.bench.multi30k_text import multi30k_root

    candidates = [explicit] if explicit else [os.environ.get("FUSIONLAB_DATA"),
                                              ROOT.parent / "shared" / "data", ROOT / "shared" / "data"]
    for cand in filter(None, candidates):
        try:
            return multi30k_root(cand)
        except Exception:
            continue
    return None


def start_multi30k(ctx: Context, data: Path, minutes: float) -> tuple[subprocess.Popen, Step, Path]:
    out = ctx.out_dir / "d_multi30k_text.json"
    args = ["scripts/bench/multi30k_text.py", "--minutes", str(minutes), "--data-dir", str(data),
            "--threads", str(min(8, os.cpu_count() or 1)), "-o", "trainer=gpu", "--out", str(out)]
    log = ctx.out_dir / "d_multi30k_text.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    proc = subprocess.Popen([sys.executable, *args], cwd=ROOT, env=child_env(), stdout=open(log, "w"),
                            stderr=subprocess.STDOUT)
    return proc, Step("d.multi30k_text", f"experiment=multi30k_text on the GPU, {minutes:g} min",
                      command=shown(args)), log


def finish_multi30k(ctx: Context, proc: subprocess.Popen, step: Step, log: Path, t0: float) -> Step:
    try:
        rc = proc.wait(timeout=max(1.0, ctx.left()))
    except subprocess.TimeoutExpired:
        proc.kill()
        rc = 124
    step.seconds = time.monotonic() - t0
    result = read_json(ctx.out_dir / "d_multi30k_text.json")
    if rc != 0 or not result:
        step.status, step.reason = "failed", f"exit {rc}: {tail_of(log)}"
        return step
    step.result = {"test_bleu": result["test_bleu"], "test_bleu_tokenized": result.get("test_bleu_tokenized"),
                   "bleu_signature": result["bleu_signature"],
                   "optimizer_steps": result["optimizer_steps"], "epochs": result["epochs"],
                   "total_minutes": result["total_minutes"], "val_curve": result["val_curve"],
                   "ran_alongside": "steps a and b (same GPU, other CPU cores)"}
    return step


# --- the whole check ----------------------------------------------------------------------------
def gpu_refused(ctx: Context, report: Report) -> None:
    """Without CUDA, `trainer=gpu` must end in one `fusionlab: error:` line, no traceback."""
    args = ["train.py", "trainer=gpu", "++trainer.fast_dev_run=true", *QUIET, *ctx.data_args,
            f"hydra.run.dir={ctx.out_dir / 'gpu_refused'}"]
    t0 = time.monotonic()
    log = ctx.out_dir / "gpu_refused.log"
    rc, _ = run_python(args, log, min(300.0, ctx.left()))
    text = log.read_text(errors="replace")
    step = Step("cpu.trainer_gpu_refused", "trainer=gpu without CUDA: one clear error",
                seconds=time.monotonic() - t0, command=shown(args))
    if rc == 0 or "Traceback" in text or "fusionlab: error:" not in text:
        step.status = "failed"
        step.reason = f"exit {rc}, expected one 'fusionlab: error:' line and no traceback: {tail_of(log)}"
    else:
        step.result = {"message": next(ln for ln in text.splitlines() if "fusionlab: error:" in ln)[:200]}
    report.add(step)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="a small subset (CPU test, first device try)")
    ap.add_argument("--cpu", action="store_true", help="run the CPU-side steps even where CUDA is available")
    ap.add_argument("--out", default=str(ROOT / "bench_results" / "gpu_check.json"))
    ap.add_argument("--out-dir", default=None, help="run folders (default outputs/gpu_check/<time>)")
    ap.add_argument("--data-dir", default=None, help="paths.data_dir for the synthetic datasets")
    ap.add_argument("--multi30k-dir", default=None,
                    help="folder holding multi30k/ (default: $FUSIONLAB_DATA, ../shared/data, ./shared/data)")
    ap.add_argument("--multi30k-minutes", type=float, default=5.0)
    ap.add_argument("--budget-minutes", type=float, default=8.0, help="wall-clock limit of the check")
    ap.add_argument("--steps", type=int, default=20, help="timed training steps per throughput config")
    ap.add_argument("--warmup", type=int, default=5)
    ap.add_argument("--only", default="a,b,c,d", help="comma-separated step groups to run (a rerun)")
    args = ap.parse_args()

    start, t0 = dt.datetime.now(dt.timezone.utc), time.monotonic()
    report = Report()
    env = environment(report, args.cpu)
    stamp = start.strftime("%Y-%m-%d_%H-%M-%S")
    out_dir = Path(args.out_dir or ROOT / "outputs" / "gpu_check" / stamp).resolve()
    ctx = Context(cuda=bool(env and env["cuda_used"]), quick=args.quick, out_dir=out_dir,
                  data_args=[f"paths.data_dir={Path(args.data_dir).resolve()}"] if args.data_dir else [],
                  deadline=t0 + 60 * args.budget_minutes)
    if env is not None:
        run_steps(ctx, report, args, env)
    summary = {s: sum(st.status == s for st in report.steps) for s in ("ok", "failed", "skipped")}
    print("\n" + report.table())
    print(f"\n{summary['ok']} ok, {summary['failed']} failed, {summary['skipped']} skipped in "
          f"{(time.monotonic() - t0) / 60:.1f} min (budget {args.budget_minutes:g} min); runs in {out_dir}")
    from common import write_report  # scripts/bench/common.py

    write_report({"started_utc": start.isoformat(timespec="seconds"), "mode": "gpu" if ctx.cuda else "cpu",
                  "quick": args.quick, "wall_seconds": time.monotonic() - t0,
                  "budget_minutes": args.budget_minutes, "environment": env, "goals": GOALS,
                  "summary": summary, "goal_values": goal_values(report), "run_dir": str(out_dir),
                  "steps": [asdict(s) for s in report.steps]},
                 args.out)
    return 1 if summary["failed"] else 0


def goal_values(report: Report) -> dict:
    """The issue's goals as measured here (None where the step did not run)."""
    speedups = [s.result["speedup_over_cpu_2_threads"] for s in report.steps
                if "speedup_over_cpu_2_threads" in s.result]
    bleu = next((s.result for s in report.steps if s.id == "d.multi30k_text" and s.status == "ok"), {})
    return {"gpu_over_cpu_throughput_best": max(speedups) if speedups else None,
            "gpu_over_cpu_throughput_met": max(speedups) >= GOALS["gpu_over_cpu_throughput"] if speedups else None,
            "multi30k_test_bleu_tokenized": bleu.get("test_bleu_tokenized"),
            "multi30k_minutes": bleu.get("total_minutes")}


def run_steps(ctx: Context, report: Report, args: argparse.Namespace, env: dict) -> None:
    """(c) alone first, then (d) in the background while (a) and (b) run; groups not in --only are
    left out of the report."""
    only = set(args.only.split(","))
    if ctx.cuda:
        no_gpu = ""
    elif env["cuda_available"]:
        no_gpu = "--cpu given"
    else:
        no_gpu = "no CUDA device visible (torch.cuda.is_available() is False)"
    if "c" in only:
        steps, warmup = (3, 1) if ctx.quick else (args.steps, args.warmup)
        throughput(ctx, report, steps, warmup)  # alone on the machine: clean timings
    multi30k = start_multi30k_if_possible(ctx, report, args, no_gpu) if "d" in only else None
    if "a" in only:
        fast_dev_runs(ctx, report)
    if "b" in only:
        ddp_runs(ctx, report)
    if not ctx.cuda and not ctx.quick and "a" in only:
        gpu_refused(ctx, report)
    if multi30k is not None:
        report.add(finish_multi30k(ctx, *multi30k))
    if not ctx.cuda:
        for id_, title in (("a.gpu", "fast_dev_runs with trainer=gpu (bf16-mixed)"),
                           ("b.ddp.gpu", "trainer=ddp on all visible GPUs (NCCL, SyncBatchNorm)"),
                           ("c.throughput.gpu", "GPU throughput and peak memory, batch 100/1000, fp32/bf16")):
            if id_[0] in only:
                report.skip(id_, title, no_gpu)


def start_multi30k_if_possible(ctx: Context, report: Report, args: argparse.Namespace, no_gpu: str):
    """(process, step, log, start time) of the background (d) run, or None after a skip line."""
    title = "Multi30K text on the GPU"
    if not ctx.cuda:
        report.skip("d.multi30k_text", title, f"{no_gpu}; on CPU run scripts/bench/multi30k_text.py "
                    "(its default budget is the CPU goal's)")
        return None
    if ctx.quick:
        report.skip("d.multi30k_text", title, "--quick")
        return None
    data = find_multi30k(args.multi30k_dir)
    if data is None:
        report.skip("d.multi30k_text", title, "no Multi30K found (looked in --multi30k-dir, "
                    "$FUSIONLAB_DATA, ../shared/data, ./shared/data): pass --multi30k-dir <folder "
                    "holding multi30k/>")
        return None
    return (*start_multi30k(ctx, data, args.multi30k_minutes), time.monotonic())


if __name__ == "__main__":
    raise SystemExit(main())
