"""``pt watch``: continuous triage with graduated autonomy (see pt.watch.loop)."""
