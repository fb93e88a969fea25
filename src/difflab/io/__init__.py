"""Every file difflab writes or reads back, in one place.

- :mod:`~difflab.io.atomic`: every write is atomic, only to regular files, never over a
  file another process created meanwhile; claimed outputs; folder locks;
- :mod:`~difflab.io.folders`: the model folder (``config.json`` + ``model.safetensors``
  + ``ema.safetensors``) and the autoencoder folder, checked against the weights'
  header before anything is allocated; pipeline configs; the assets shipped in the
  package;
- :mod:`~difflab.io.weights`: safetensors files (the only weight format read or written);
- :mod:`~difflab.io.diffusers`: diffusers-format pipeline folders read as difflab models;
- :mod:`~difflab.io.checkpoint`: the one-file training checkpoint (safetensors + JSON,
  checksummed), from which a run resumes exactly.

Nothing here is imported by ``import difflab.io``: import the module you need.
"""
