"""Pictures. matplotlib is imported only when a picture is drawn."""

from .points import forward_strip, reverse_strip, scatter_samples
from .images import save_gif, save_grid, trajectory_grid
from .score import score_fields

__all__ = ["scatter_samples", "forward_strip", "reverse_strip", "score_fields", "save_grid", "save_gif", "trajectory_grid"]
