"""LightningModules, one per task family: translation, classification, regression (on the shared
FusionTask of base.py), plus the pieces they share: adversarial training for fusions with a
discriminator, optimizers and LR schedules from the config, DDP record gathering."""
