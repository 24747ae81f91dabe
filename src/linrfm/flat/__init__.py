"""Flat minima of factorized low-rank recovery (Ding, Drusvyatskiy, Fazel, Harchaoui)."""
