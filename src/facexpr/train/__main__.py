"""``python -m facexpr.train prepare|train|export ...`` (e.g. under ``accelerate launch -m``)."""
from .cli import main

main()
