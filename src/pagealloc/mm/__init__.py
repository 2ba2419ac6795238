"""The model of the kernel's mm/: mirrors mm/page_alloc.c and its neighbours.

Imports nothing outside this package but numpy and the standard library.
"""
