"""The base layer: what every other layer uses and nothing of actbench's own.

* :mod:`~actbench.base.errors`: every exception actbench raises on purpose (``actbench.errors``);
* :mod:`~actbench.base.text`: message helpers ("did you mean", counts with their nouns);
* :mod:`~actbench.base.settings`: the cache folder, offline mode and every other environment variable;
* :mod:`~actbench.base.files`: atomic writes, temporary names and their clean-up, checksums.
"""
