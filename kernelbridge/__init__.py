"""kernelbridge: one daemon between every editor and Jupyter kernels."""

__version__ = "0.1.0"
