"""What ``fusionlab.cli``'s train() and evaluate() are made of, one concern a module.

- ``environment``: offline W&B / hub, quiet warnings, the thread count in the log
- ``launch``: how this process was started (DDP rank, Hydra multirun)
- ``preflight``: checks before anything is built (config values, accelerator, training length,
  DDP inside a multirun)
- ``build``: datamodule, task module, callbacks and loggers from the config
- ``checkpoints``: safe reading, compatibility with the configured model, ``ckpt_path=last``
- ``metrics_file``: metrics.json and the value returned to sweepers
- ``wandb_identity``: one W&B run per job (id kept across resumes, sweep groups), closed at the end
- ``guard``: failures as one ``fusionlab: error:`` line, error.json, empty run folders removed
- ``threads``: the ``threads`` option (torch, OpenMP/BLAS of children, DataLoader workers)
- ``folder``: what a run wrote into its folder (printed at the end), clean-up of an empty one

None of them imports torch, lightning or wandb at module level (``python train.py --help`` stays fast).
"""
