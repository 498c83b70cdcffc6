"""Acting on a confirmed plan: identity, guards, remedies and the journal."""
