"""Offline research tools, beside the product: they build the files the runtime ships
(``data/expression_prior.safetensors``, ``data/expression_linear.safetensors``, the landmark-fusion
module) from the shared data, and nothing on the inference path imports them.

Their commands are grouped as ``facexpr research …`` (:mod:`.cli`); ``facexpr build-prior`` and
``facexpr fit-expression`` stay as hidden aliases of the research commands.
"""
