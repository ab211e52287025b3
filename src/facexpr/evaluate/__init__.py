"""Evaluation: scoring facexpr's outputs (kept import-light: nothing here loads a model).

* :mod:`.benchmarks` - pair lists: ``london``, the dataset adapters, a user's CSV;
* :mod:`.runner`     - runs methods over pairs, judges every image once, reference rows;
* :mod:`.metrics`    - pure metric functions (expression change, errors, FID, KID, SSIM, PSNR);
* :mod:`.report`     - the table, ``results.json``, ``report.md``, contact sheet and plots;
* :mod:`.cli`        - the ``facexpr evaluate`` command;
* :mod:`.judges`     - the models that score (none trained by this project).
"""
