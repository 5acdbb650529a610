"""kernelbridge's benchmarks: ``python bench/run.py [--quick]`` (see run.py)."""
