"""Reports: JSON results to tables, plots and self-contained HTML."""
