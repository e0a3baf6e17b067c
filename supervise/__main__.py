"""``python -m supervise``: the same as the ``supervise`` command."""

from ._cli import main

main(prog_name="supervise")
