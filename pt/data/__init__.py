"""Shipped defaults: priors.json, policy.json, category rules (read with importlib.resources)."""
