"""Tasks: what a trained denoiser can do besides sampling, each a method on tensors in the
model's space (no files, no codecs, no metrics; the pipelines add those).

- :mod:`~difflab.tasks.inpaint`: replacement (Song et al. 2021) and RePaint (Lugmayr et al. 2022);
- :mod:`~difflab.tasks.img2img`: SDEdit (Meng et al. 2022);
- :mod:`~difflab.tasks.superres`: SR3-style super-resolution with noise-conditioning
  augmentation, in tiles (Saharia et al. 2021; Ho et al. 2022);
- :mod:`~difflab.tasks.classify`: the diffusion classifier (Li et al. 2023).
"""
