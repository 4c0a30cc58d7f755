"""Work beyond one process: a local process pool or a Ray cluster (``headshot batch``, ``prepare --cluster``,
``eval --cluster``). See docs/cluster.md."""
