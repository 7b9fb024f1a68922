"""Test a checkpoint: `python eval.py ckpt_path=outputs/runs/.../checkpoints/best.ckpt` (see README)."""

from fusionlab.cli import eval_main

if __name__ == "__main__":
    eval_main()
