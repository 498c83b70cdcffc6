"""The learning loop: labels from outcomes and people, calibrated priors, guarantees.

- :mod:`pt.learn.labels`: what a confirmation, a refusal or a person's
  feedback says about a process, and one label per process from all of them;
- :mod:`pt.learn.model`: the formulas (conjugate and empirical-Bayes updates,
  the PAC-Bayes bound, reliability), numpy and scipy only;
- :mod:`pt.learn.store`: the learned priors file (written, read, reset);
- :mod:`pt.learn.calibrate`: the labelled record read from the lake with
  DuckDB, and the calibration built from it;
- :mod:`pt.learn.drift`: has the evidence changed since the calibration
  (Kolmogorov-Smirnov, Wasserstein)?
"""
