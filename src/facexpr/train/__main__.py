"""``python -m facexpr.train prepare|train|export ...`` (e.g. under ``accelerate launch -m``): the
same as ``facexpr prepare|train|export ...`` (an entry point: the app layer)."""
from ..cli import main

main()
