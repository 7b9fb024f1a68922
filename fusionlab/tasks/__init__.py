"""LightningModules: one per task family (translation, classification/regression)."""
