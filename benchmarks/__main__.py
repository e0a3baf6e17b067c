"""``python -m benchmarks``: see ``benchmarks/README.md``."""

from __future__ import annotations

from benchmarks._harness import main

raise SystemExit(main())
