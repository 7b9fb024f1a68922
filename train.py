"""Train and test one configuration: `python train.py fusion=gan dataset=multi30k` (see README)."""

from fusionlab.cli import train_main

if __name__ == "__main__":
    train_main()
