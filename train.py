"""Train and test one configuration: `python train.py fusion=gan dataset=multi30k` (see README)."""

import sys

from fusionlab.cli import train_main
from fusionlab.fast_help import speed_up_help
from fusionlab.override_errors import report_in_one_line

if __name__ == "__main__":
    speed_up_help(sys.argv)
    report_in_one_line()
    train_main()
