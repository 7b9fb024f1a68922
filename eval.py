"""Test a checkpoint: `python eval.py ckpt_path=outputs/runs/.../checkpoints/best.ckpt` (see README)."""

import sys

from fusionlab.cli import eval_main
from fusionlab.fast_help import speed_up_help

if __name__ == "__main__":
    speed_up_help(sys.argv)
    eval_main()
