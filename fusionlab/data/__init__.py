"""Datasets: one module per dataset family, plus shared batch/spec/tokenizer code."""
