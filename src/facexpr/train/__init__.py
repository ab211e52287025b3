"""Training: what every GAN method shares, so a method adds only its networks and losses.

* :mod:`~facexpr.train.prepare` — ``facexpr prepare``: the annotated, resumable crop cache;
* :mod:`~facexpr.train.sources` — datasets as lists of images (through :mod:`facexpr.datasets`);
* :mod:`~facexpr.train.data` — torch data over caches: unpaired, same-person, self-supervised;
* :mod:`~facexpr.train.augment` — the landmark-driven deformation of self-supervised pairs;
* :mod:`~facexpr.train.config` — typed YAML configs with dotted overrides;
* :mod:`~facexpr.train.tasks` — :class:`TrainTask`, what a method's recipe implements; ``get_task``;
* :mod:`~facexpr.train.trainer` — the Accelerate loop (AMP, EMA, penalties, update ratios, logs);
* :mod:`~facexpr.train.losses` — shared losses (networks: :mod:`facexpr.methods.nets`);
* :mod:`~facexpr.train.checkpoint`, :mod:`~facexpr.train.export` — atomic checkpoints and exact
  resume, fp16 export with a model card (run by :mod:`facexpr.methods.exported`).

A method's own training recipe lives in its folder (``facexpr/methods/<family>/train.py``) and
extends :class:`~facexpr.train.tasks.TrainTask`; ``train/`` never imports ``evaluate/``.

Nothing heavy is imported here: torch and Accelerate load with the submodules that need them.
"""
