"""Test a checkpoint: `python eval.py ckpt_path=outputs/runs/.../checkpoints/best.ckpt` (see README)."""

import sys

from fusionlab.cli import eval_main
from fusionlab.fast_help import speed_up_help
from fusionlab.override_errors import report_in_one_line

if __name__ == "__main__":
    speed_up_help(sys.argv)
    report_in_one_line()
    eval_main()
