"""Sample-quality metrics: sliced Wasserstein (2-D), Frechet distance, memorisation, PSNR and SSIM,
the feature classifier of ``difflab eval`` and the shapes judge (import those
submodules directly: they load on use)."""

from .frechet import frechet_distance, frechet_from_stats, gaussian_stats
from .image import psnr, ssim
from .memorisation import memorisation_rate, nearest_neighbour_ratio
from .wasserstein import noise_floor, sliced_wasserstein

__all__ = ["sliced_wasserstein", "noise_floor", "frechet_distance", "frechet_from_stats", "gaussian_stats",
           "memorisation_rate", "nearest_neighbour_ratio", "psnr", "ssim"]
