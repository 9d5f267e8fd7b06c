"""Synthetic bank: one coherent bank written in every landing feed's native format."""
