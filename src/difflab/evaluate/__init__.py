"""Honest evaluation, one module per report: image models (:mod:`~difflab.evaluate.images`,
``difflab eval``), inpainting (:mod:`~difflab.evaluate.inpainting`), text-to-image
pipelines (:mod:`~difflab.evaluate.text_to_image`) and super-resolution
(:mod:`~difflab.evaluate.superres`). Each records n, seeds and settings beside its figures."""

from .images import MIN_STABLE_N, evaluate_image_model, evaluate_samples, generate_images, inception_features
from .inpainting import evaluate_inpainting, half_masks
from .text_to_image import evaluate_text_to_image

__all__ = ["generate_images", "evaluate_samples", "evaluate_image_model", "evaluate_inpainting", "half_masks",
           "evaluate_text_to_image", "inception_features", "MIN_STABLE_N"]
