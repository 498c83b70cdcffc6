# cython: language_level=3
"""Placeholder so the build skeleton compiles; replaced by the real kernels."""
from libc.math cimport lgamma

def _lgamma(double x):
    return lgamma(x)
