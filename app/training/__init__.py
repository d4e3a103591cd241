"""Training data, training loops, distillation and evaluation (never imported by the live path)."""
