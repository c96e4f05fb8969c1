"""Pure data: the DAG specification, its canonical form and its validation."""
