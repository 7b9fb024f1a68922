"""Lightning callbacks: sample tables, latent-space plots, numeric guards, atomic checkpoints."""
