"""From per-pair metric rows to tables and figures."""
