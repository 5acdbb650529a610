# A percent-format script: `kernelbridge run tests/data/demo.py` runs its code cells in a
# fresh kernel through a daemon, the way an editor runs them.

# %% [markdown]
# Markdown cells are skipped when the file runs.

# %% Where are we?
import platform
import sys

print("hello from", platform.python_implementation(), sys.version.split()[0])

# %% A loop whose output streams as it runs
for step in range(3):
    print(f"step {step}", flush=True)

# %% The last expression is the cell's result
sum(n * n for n in range(10))
