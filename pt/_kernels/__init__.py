"""Compiled kernels. Private: they assume validated input; use :mod:`pt.kernels`."""
