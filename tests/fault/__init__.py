"""The fault-injection soak (docs/soak.md): real `logship ship` and `logship collect`
processes, a numbered writer that rotates, and a seeded scheduler of faults; at the end
the DuckDB file must hold every written line exactly once."""
