"""Pure text stages: no I/O."""
