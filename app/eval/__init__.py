"""Evaluation: the metrics, `liveface eval` on the validation and test splits, the baselines
a model has to beat, and the probe of what a front end can hear (never imported by the live
path)."""
