"""Datasets: generated 2-D toys (images arrive with the image engine)."""

from .toy import TOY_DATASETS, exact_model, toy_dataset
from .transforms import Affine

__all__ = ["TOY_DATASETS", "toy_dataset", "exact_model", "Affine"]
