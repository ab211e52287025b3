"""Training: what the four GAN methods share (issue 4).

* :mod:`~facexpr.train.prepare` — ``facexpr prepare``: the annotated, resumable crop cache;
* :mod:`~facexpr.train.sources` — datasets as lists of images (through :mod:`facexpr.datasets`);
* :mod:`~facexpr.train.data` — torch data over caches: unpaired, same-person, self-supervised;
* :mod:`~facexpr.train.augment` — the landmark-driven deformation of self-supervised pairs;
* :mod:`~facexpr.train.config` — typed YAML configs with dotted overrides;
* :mod:`~facexpr.train.tasks` — the registry methods plug into (``pix2pix``: the reference task);
* :mod:`~facexpr.train.trainer` — the Accelerate loop (AMP, EMA, penalties, update ratios, logs);
* :mod:`~facexpr.train.losses`, :mod:`~facexpr.train.nets` — shared losses and building blocks;
* :mod:`~facexpr.train.checkpoint`, :mod:`~facexpr.train.export`, :mod:`~facexpr.train.method` —
  atomic checkpoints and exact resume, fp16 export with a model card, and the exported generator
  as a rendering method.

Nothing heavy is imported here: torch and Accelerate load with the submodules that need them.
"""
