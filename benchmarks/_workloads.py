"""The workload table: one row per workload, each a (framework, raw) pair.

Names, units and directions are fixed: results are compared over time by name.
``framework`` is looked up in :mod:`benchmarks._framework` by the lower-cased
workload name (``W1_spawn`` -> ``w1_spawn``) and is ``None`` while that module
does not define it.
"""

from __future__ import annotations

import inspect
import re
from dataclasses import dataclass
from typing import cast

from benchmarks import _framework, _raw
from benchmarks._common import WorkloadFn


@dataclass(frozen=True)
class Workload:
    """One benchmark workload: what it measures and its two implementations."""

    name: str
    unit: str
    higher_is_better: bool
    #: ``n`` passed to both functions at ``--scale 1.0``.
    full_size: int
    raw: WorkloadFn
    framework: WorkloadFn | None
    #: Run only when named in ``--only`` (it needs what a plain run may not have: W9
    #: starts a nats-server and node processes, from the ``nats`` extra).
    opt_in: bool = False

    def size(self, scale: float) -> int:
        """``n`` for this run: ``full_size * scale`` rounded, at least 1."""
        return max(1, round(self.full_size * scale))


_FRAMEWORK_NAME = re.compile(r"^w\d")


def framework_function(workload_name: str) -> WorkloadFn | None:
    """The framework implementation of ``workload_name``, or ``None`` if absent."""
    fn: object = getattr(_framework, workload_name.lower(), None)
    if fn is None:
        return None
    if not inspect.iscoroutinefunction(fn):
        raise TypeError(
            f"benchmarks._framework.{workload_name.lower()} must be `async def (n: int) -> float`"
        )
    return cast(WorkloadFn, fn)


def _row(
    name: str,
    unit: str,
    higher_is_better: bool,
    full_size: int,
    raw: WorkloadFn,
    *,
    opt_in: bool = False,
) -> Workload:
    fn = framework_function(name)
    return Workload(name, unit, higher_is_better, full_size, raw, fn, opt_in)


#: Every workload, in run and report order.
WORKLOADS: tuple[Workload, ...] = (
    _row("W1_spawn", "actors/s", True, 100_000, _raw.w1_spawn),
    _row("W1_stop", "actors/s", True, 100_000, _raw.w1_stop),
    _row("W1_memory_per_actor", "bytes", False, 10_000, _raw.w1_memory_per_actor),
    _row("W2_call_roundtrip", "calls/s", True, 200_000, _raw.w2_call_roundtrip),
    _row("W3_cast_1to1", "messages/s", True, 1_000_000, _raw.w3_cast_1to1),
    _row("W3_cast_100to1", "messages/s", True, 1_000_000, _raw.w3_cast_100to1),
    _row("W4_call_latency_p50", "s", False, 100_000, _raw.w4_call_latency_p50),
    _row("W4_call_latency_p99", "s", False, 100_000, _raw.w4_call_latency_p99),
    _row("W5_restart_latency_p50", "s", False, 10_000, _raw.w5_restart_latency_p50),
    _row("W5_restart_latency_p99", "s", False, 10_000, _raw.w5_restart_latency_p99),
    _row("W6_fanout", "messages/s", True, 10_000, _raw.w6_fanout),
    # W7: n is the milliseconds of CPU work.
    _row("W7_loop_lag_loop", "s", False, 1_000, _raw.w7_loop_lag_loop),
    _row("W7_loop_lag_thread", "s", False, 1_000, _raw.w7_loop_lag_thread),
    _row("W7_loop_lag_process", "s", False, 1_000, _raw.w7_loop_lag_process),
    _row("W8_async_stream", "items/s", True, 100_000, _raw.w8_async_stream),
    _row("W8_timed_async_stream", "items/s", True, 100_000, _raw.w8_timed_async_stream),
    _row("W8_isolated_call", "calls/s", True, 10_000, _raw.w8_isolated_call),
    # n restarts, each a new Python process: about a second apiece on a loaded machine.
    _row("W8_isolated_restart", "s", False, 20, _raw.w8_isolated_restart),
    # W9 (opt-in: --only W9): calls to an actor in another process over NATS.
    _row("W9_remote_call", "calls/s", True, 10_000, _raw.w9_remote_call, opt_in=True),
    _row(
        "W9_remote_pipelined",
        "calls/s",
        True,
        50_000,
        _raw.w9_remote_pipelined,
        opt_in=True,
    ),
    _row("W9_nodedown", "s", False, 5, _raw.w9_nodedown, opt_in=True),
)

WORKLOAD_NAMES: tuple[str, ...] = tuple(w.name for w in WORKLOADS)


def unknown_framework_functions() -> list[str]:
    """Public ``w<digit>...`` names in ``_framework`` that match no workload (typos)."""
    expected = {name.lower() for name in WORKLOAD_NAMES}
    return sorted(
        attr for attr in vars(_framework) if _FRAMEWORK_NAME.match(attr) and attr not in expected
    )


_unknown = unknown_framework_functions()
if _unknown:
    raise ImportError(
        f"benchmarks._framework defines {_unknown}, which match no workload; "
        f"expected names: {sorted(n.lower() for n in WORKLOAD_NAMES)}"
    )
