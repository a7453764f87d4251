import os

# One BLAS thread per test process, set before numpy loads: pytest imports this package
# before tests/conftest.py and any test module, and xdist workers and the servers the
# system tests start inherit the environment. OpenBLAS otherwise starts a thread per core
# in each xdist worker, and on a loaded 2-core machine those threads spin against each
# other: the ARIMA fits of tests/unit/plugins/test_arima.py ran 5 to 10 times slower
# (57 s against 5 s for one contract test). One thread also sums in a fixed order.
for _variable in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_variable, "1")
