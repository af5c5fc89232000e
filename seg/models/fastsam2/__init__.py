"""FastSAM2: RapSAM grown into one multi-task model (task router, prompt fusion, streaming memory)."""
