"""Telemetry: every scan recorded to a Parquet lake, redacted, and queryable with DuckDB.

- :mod:`pt.telemetry.schemas`: versioned Arrow schemas of the eight tables,
  generated from :data:`pt.fields.FIELDS` / :data:`pt.fields.VERDICT_FIELDS`;
- :mod:`pt.telemetry.redact`: the redaction policy (keyed hashes, secret detection);
- :mod:`pt.telemetry.writer`: Arrow tables from a scan's columns, written per
  run with zstd, published by atomic link;
- :mod:`pt.telemetry.lake`: paths, listing, quarantine, prune, compact, export;
- :mod:`pt.telemetry.duck`: DuckDB views over the lake and the shipped reports
  (``reports.sql``).

pyarrow and duckdb are imported by these modules; nothing outside
``pt.telemetry`` imports them at module level, so ``pt --help`` stays instant.
"""
