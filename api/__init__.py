"""The web layer and the command line of l3a: orders, jobs, products, tiles, the viewer."""

import os

# Before anything loads numpy. OpenBLAS (numpy's, and scipy's, which numba loads to check for
# BLAS) starts a thread a core, and they spin: l3a multiplies no matrices and runs its own
# threads (dask's, the readers'). Measured on a month's synthesis on Earth Search's layout:
# 0.35 s less CPU of 5.3 s. Whoever sets it keeps their value.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
