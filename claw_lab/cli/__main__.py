"""``python -m claw_lab.cli``: the same as the ``claw-lab`` command."""

from claw_lab.cli import main

main()
