"""Reads memory at address 1 through ctypes: a segfault."""
import ctypes


def solve(n):
    return ctypes.cast(1, ctypes.POINTER(ctypes.c_int))[0]
