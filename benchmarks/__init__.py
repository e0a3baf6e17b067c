"""Benchmarks: supervise's actors against raw asyncio (a Task and a Queue per actor).

Run ``python -m benchmarks --help`` from the repository root; see
``benchmarks/README.md`` for what each workload measures.  Layout:

* :mod:`benchmarks._workloads`: the table of workloads (name, unit, direction,
  size, raw function, framework function);
* :mod:`benchmarks._raw`: the raw-asyncio baselines;
* :mod:`benchmarks._framework`: supervise's side (the contract is in its docstring);
* :mod:`benchmarks._common`: constants and measurement helpers both sides share;
* :mod:`benchmarks._harness`: runner, table, JSON and command line.
"""

from __future__ import annotations

from benchmarks._harness import Report, main, run_benchmarks, select_workloads
from benchmarks._workloads import WORKLOAD_NAMES, WORKLOADS, Workload

__all__ = [
    "WORKLOADS",
    "WORKLOAD_NAMES",
    "Report",
    "Workload",
    "main",
    "run_benchmarks",
    "select_workloads",
]
