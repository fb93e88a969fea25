"""Exact, analytic models: no training, closed-form denoisers."""

from .gaussian_mixture import GaussianMixture, eight_gaussians

__all__ = ["GaussianMixture", "eight_gaussians"]
