"""Exact, analytic models: no training, closed-form denoisers."""

from .gaussian_mixture import GaussianMixture, eight_gaussians, random_mixture

__all__ = ["GaussianMixture", "eight_gaussians", "random_mixture"]
