"""Posterior and evidence ledger from model inputs."""
