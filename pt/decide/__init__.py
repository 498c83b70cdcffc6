"""Actions from posteriors: expected loss, robustness, FDR, hard vetoes."""
