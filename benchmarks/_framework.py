"""Framework side of the benchmarks: supervise's own actors.  NOT YET IMPLEMENTED.

This module is where the supervise implementation of each workload goes.  The
harness (``python -m benchmarks``) looks up one coroutine function per workload
here, by name; a workload whose function is absent is shown as
``not yet implemented`` in the table and written as ``null`` in the JSON (no
figure is ever invented).  Functions can be added one at a time.

Contract
--------
Every function has exactly this signature (``benchmarks._common.WorkloadFn``)::

    async def <name>(n: int) -> float

* ``n`` is the workload's size after ``--scale`` (listed below at scale 1.0).
* It is awaited inside a fresh event loop (asyncio or uvloop, whichever the run
  uses) after ``gc.collect()``; it must time only the measured region itself
  (with ``benchmarks._common.now_ns``), and return the figure in the unit below.
* It must leave nothing running: stop every actor and supervisor it started
  before returning (the harness warns about leftover tasks).
* It must measure exactly what the raw function of the same name in
  ``benchmarks/_raw.py`` measures (read its docstring), using the shared
  constants and helpers in ``benchmarks/_common.py``: ``YIELD_EVERY``,
  ``FANIN_PRODUCERS``, ``FANOUT_MESSAGES_PER_ACTOR``, ``CALL_WARMUP``,
  ``RESTART_INTENSITY`` / ``RESTART_PERIOD_S``, ``per_second``,
  ``percentile_s``, ``traced_bytes_per_item``.

Functions to provide (workload name -> function; n at scale 1.0; unit):

========================  ========================  ========  ==========  =======
workload                  function                  n         unit        better
========================  ========================  ========  ==========  =======
W1_spawn                  w1_spawn                  100_000   actors/s    higher
W1_stop                   w1_stop                   100_000   actors/s    higher
W1_memory_per_actor       w1_memory_per_actor       10_000    bytes       lower
W2_call_roundtrip         w2_call_roundtrip         200_000   calls/s     higher
W3_cast_1to1              w3_cast_1to1              1_000_000 messages/s  higher
W3_cast_100to1            w3_cast_100to1            1_000_000 messages/s  higher
W4_call_latency_p50       w4_call_latency_p50       100_000   s           lower
W4_call_latency_p99       w4_call_latency_p99       100_000   s           lower
W5_restart_latency_p50    w5_restart_latency_p50    10_000    s           lower
W5_restart_latency_p99    w5_restart_latency_p99    10_000    s           lower
W6_fanout                 w6_fanout                 10_000    messages/s  higher
========================  ========================  ========  ==========  =======

What each must do with supervise (the raw counterpart is in ``_raw.py``):

* ``w1_spawn(n)``: start ``n`` idle actors under one supervisor; time until all
  are started and ready to receive; stop them (untimed).
* ``w1_stop(n)``: start ``n`` idle actors under a supervisor (untimed),
  ``gc.collect()``, time stopping all of them (graceful stop / supervisor
  shutdown) until every one has terminated.
* ``w1_memory_per_actor(n)``: ``return await traced_bytes_per_item(n, build,
  teardown)`` where ``build`` starts ``n`` idle supervised actors and returns a
  handle, and ``teardown`` stops them.
* ``w2_call_roundtrip(n)``: one actor makes ``n`` sequential calls to another;
  calls/s timed inside the caller.
* ``w3_cast_1to1(n)`` / ``w3_cast_100to1(n)``: 1 or ``FANIN_PRODUCERS``
  producers cast ``n // producers`` messages each to one actor, yielding with
  ``await asyncio.sleep(0)`` every ``YIELD_EVERY`` casts; messages/s until the
  actor has handled all of them.
* ``w4_call_latency_p50(n)`` / ``..._p99(n)``: ``CALL_WARMUP`` untimed calls,
  then ``n`` calls each timed; ``percentile_s(latencies_ns, 0.50 / 0.99)``.
* ``w5_restart_latency_p50(n)`` / ``..._p99(n)``: one permanent child under a
  one_for_one supervisor (intensity ``RESTART_INTENSITY`` per
  ``RESTART_PERIOD_S``); ``n`` crashes in sequence; latency from just before the
  child raises to the new incarnation being ready to receive;
  ``percentile_s(latencies_ns, ...)``.
* ``w6_fanout(n)``: ``n`` actors started (untimed), ``gc.collect()``, then one
  sender casts ``FANOUT_MESSAGES_PER_ACTOR`` rounds round-robin, yielding every
  ``YIELD_EVERY`` casts; messages/s until every actor has received all.

Any other public name starting with ``w`` and a digit is rejected by the
harness as a probable typo.
"""

from __future__ import annotations
