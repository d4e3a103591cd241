"""Training windows, the training loops, distillation and export (never imported by the live
path); the data they read comes from `app.data`."""
