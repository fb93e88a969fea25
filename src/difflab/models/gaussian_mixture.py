"""An exact Gaussian-mixture model: the ideal denoiser, in closed form.

For data x_0 ~ sum_k w_k N(mu_k, C_k) and x_t = alpha x_0 + sigma eps, every
marginal is again a mixture,

    p_t(x) = sum_k w_k N(x; alpha mu_k, alpha^2 C_k + sigma^2 I),

so its score and the posterior mean E[x_0 | x_t] are known exactly:

    r_k(x)        = w_k N_k(x) / sum_j w_j N_j(x)                    (responsibilities)
    grad log p_t  = -sum_k r_k (alpha^2 C_k + sigma^2 I)^{-1} (x - alpha mu_k)
    E[x_0 | x_t]  = sum_k r_k [mu_k + alpha C_k (alpha^2 C_k + sigma^2 I)^{-1} (x - alpha mu_k)]

(the Gaussian conditioning formula applied per component). Each C_k is
diagonalised once, C_k = U_k diag(l_k) U_k^T, so every noise level costs a
rotation and a division. It is a teaching tool (no training, the perfect
model) and the oracle the tests and benchmarks measure samplers against.
"""

from __future__ import annotations

import math

import torch

from ..denoiser import Denoiser
from ..schedules import Schedule
from ..tensors import GeneratorLike, append_dims

__all__ = ["GaussianMixture", "eight_gaussians", "random_mixture"]


class GaussianMixture:
    """sum_k weights[k] N(means[k], covariances[k]) in D dimensions.

    ``covariances`` may be (K, D, D) full matrices, (K, D) diagonals or (K,)
    isotropic variances. Computation is in float64.
    """

    def __init__(self, weights, means, covariances) -> None:
        w = torch.as_tensor(weights, dtype=torch.float64)
        mu = torch.as_tensor(means, dtype=torch.float64)
        if mu.ndim != 2:
            raise ValueError(f"means must have shape (K, D), got {tuple(mu.shape)}")
        K, D = mu.shape
        if w.shape != (K,) or (w < 0).any() or w.sum() <= 0:
            raise ValueError(f"weights must be {K} non-negative numbers with a positive sum")
        C = torch.as_tensor(covariances, dtype=torch.float64)
        if C.shape == (K,):
            C = C[:, None, None] * torch.eye(D, dtype=torch.float64)
        elif C.shape == (K, D):
            C = torch.diag_embed(C)
        elif C.shape != (K, D, D):
            raise ValueError(f"covariances must have shape (K,), (K, D) or (K, D, D); got {tuple(C.shape)}")
        C = 0.5 * (C + C.transpose(1, 2))
        diag = torch.diagonal(C, dim1=1, dim2=2)
        # diagonal covariances need no rotation (the common, fast case)
        self._diagonal = bool(torch.equal(C, torch.diag_embed(diag)))
        lam, U = (diag, None) if self._diagonal else torch.linalg.eigh(C)
        if (lam <= 0).any():
            raise ValueError("covariances must be positive definite")
        self.weights, self.means, self.covariances = w / w.sum(), mu, C
        self._lam, self._U = lam, U  # (K, D), (K, D, D)

    @property
    def dim(self) -> int:
        return self.means.shape[1]

    @property
    def n_components(self) -> int:
        return self.means.shape[0]

    @property
    def mean(self) -> torch.Tensor:
        """E[x] = sum_k w_k mu_k."""
        return self.weights @ self.means

    @property
    def data_std(self) -> float:
        """The data's scale as one number, sqrt(tr Cov[x] / D) (EDM's sigma_data, Karras et al. 2022,
        sec. 5), with Cov[x] = sum_k w_k (C_k + (mu_k - E x)(mu_k - E x)^T)."""
        spread = ((self.means - self.mean) ** 2).sum(1)
        total = self.weights @ (self._lam.sum(1) + spread)
        return math.sqrt(float(total) / self.dim)

    @property
    def covariance(self) -> torch.Tensor:
        """Cov[x] = sum_k w_k (C_k + (mu_k - E x)(mu_k - E x)^T), (D, D)."""
        dev = self.means - self.mean
        return torch.einsum("k,kde->de", self.weights, self.covariances) + (self.weights[:, None] * dev).T @ dev

    @property
    def effective_dim(self) -> float:
        """The participation ratio (tr Cov)^2 / tr(Cov^2) of the data's covariance: D for
        isotropic data, 1 for data along a line."""
        lam = torch.linalg.eigvalsh(self.covariance)
        return float(lam.sum() ** 2 / (lam**2).sum())

    # -- data distribution --------------------------------------------------------
    def sample(self, n: int, generator: GeneratorLike = None) -> torch.Tensor:
        """n draws (float64)."""
        g = generator if isinstance(generator, torch.Generator) else torch.Generator().manual_seed(
            generator if isinstance(generator, int) else torch.seed() % 2**63
        )
        k = torch.multinomial(self.weights, n, replacement=True, generator=g)
        z = torch.randn(n, self.dim, generator=g, dtype=torch.float64)
        return self.means[k] + self._rotate_back(self._lam[k].sqrt() * z, k)

    def _rotate(self, r: torch.Tensor) -> torch.Tensor:
        """(N, K, D) vectors into each component's eigenbasis: U_k^T r."""
        return r if self._diagonal else torch.einsum("kde,nkd->nke", self._U, r)

    def _rotate_back(self, r: torch.Tensor, k: torch.Tensor | None = None) -> torch.Tensor:
        """U_k r: (N, K, D) eigenbasis vectors back (or (N, D) with per-row component k)."""
        if self._diagonal:
            return r
        if k is not None:
            return (self._U[k] @ r.unsqueeze(-1)).squeeze(-1)
        return torch.einsum("kde,nke->nkd", self._U, r)

    def _component_terms(self, x: torch.Tensor, alpha, sigma):
        """For x_t = alpha x0 + sigma eps: per-component log-density log w_k N_k(x),
        the precision-weighted residual P_k (x - alpha mu_k) and the variances."""
        x = x.to(torch.float64).reshape(x.shape[0], -1)
        a = append_dims(torch.as_tensor(alpha, dtype=torch.float64).to(x.device), 2)
        s = append_dims(torch.as_tensor(sigma, dtype=torch.float64).to(x.device), 2)
        # (N, K, D) residual in each component's eigenbasis
        resid = x[:, None, :] - a[:, :, None] * self.means[None]
        r = self._rotate(resid)
        var = a[:, :, None] ** 2 * self._lam[None] + s[:, :, None] ** 2  # (N, K, D)
        logdet = torch.log(var).sum(-1)
        maha = (r**2 / var).sum(-1)
        log_nk = torch.log(self.weights)[None] - 0.5 * (maha + logdet + self.dim * math.log(2 * math.pi))
        return log_nk, r, var, a

    def log_prob(self, x: torch.Tensor, alpha=1.0, sigma=0.0) -> torch.Tensor:
        """log p(x) of the data (default) or of the noisy marginal p_t for given alpha, sigma."""
        log_nk, _, _, _ = self._component_terms(x, alpha, sigma)
        return torch.logsumexp(log_nk, dim=1)

    def score(self, x: torch.Tensor, alpha, sigma) -> torch.Tensor:
        """grad_x log p_t(x) at x_t = x, exactly."""
        log_nk, r, var, _ = self._component_terms(x, alpha, sigma)
        resp = torch.softmax(log_nk, dim=1)
        g = self._rotate_back(r / var)  # P_k (x - a mu_k)
        return -(resp[:, :, None] * g).sum(1).reshape(x.shape).to(x.dtype)

    def posterior_mean(self, x: torch.Tensor, alpha, sigma) -> torch.Tensor:
        """E[x_0 | x_t = x], exactly."""
        log_nk, r, var, a = self._component_terms(x, alpha, sigma)
        resp = torch.softmax(log_nk, dim=1)
        gain = a[:, :, None] * self._lam[None] / var  # alpha C P in the eigenbasis
        corr = self._rotate_back(gain * r)
        x0 = (resp[:, :, None] * (self.means[None] + corr)).sum(1)
        return x0.reshape(x.shape).to(x.dtype)

    def standardized(self, shift, scale) -> "GaussianMixture":
        """The law of (x - shift) / scale (per coordinate) for x from this mixture."""
        shift = torch.as_tensor(shift, dtype=torch.float64)
        inv = 1.0 / torch.as_tensor(scale, dtype=torch.float64).expand(self.dim)
        cov = self.covariances * inv[None, :, None] * inv[None, None, :]
        return GaussianMixture(self.weights, (self.means - shift) * inv, cov)

    # -- as a model ---------------------------------------------------------------
    def denoiser(self, schedule: Schedule) -> Denoiser:
        """The exact denoiser for data from this mixture under ``schedule``:
        a :class:`~difflab.Denoiser` predicting x0 from (x_t, t)."""

        def f(x_t, t):
            t = t.to(torch.float64).cpu()
            return self.posterior_mean(x_t, schedule.alpha(t), schedule.sigma(t)).to(x_t)

        return Denoiser(f, schedule, prediction="x0", time_input="t", sigma_data=self.data_std)


def eight_gaussians(radius: float = 2.0, std: float = 0.2) -> GaussianMixture:
    """Eight equal-weight isotropic Gaussians evenly spaced on a circle."""
    angles = torch.arange(8, dtype=torch.float64) * (2 * math.pi / 8)
    means = radius * torch.stack([torch.cos(angles), torch.sin(angles)], 1)
    return GaussianMixture(torch.ones(8), means, torch.full((8,), std**2))


def random_mixture(seed: int, *, dim: int | None = None) -> GaussianMixture:
    """A random Gaussian mixture from the family samplers are validated on (issue 17), one per seed.

    Every property a sampler's step grid could be fitted to varies:

    - dimension D log-uniform in 2..256 (unless ``dim`` is given);
    - 2 to 16 components, weights from a flat Dirichlet (each at least 1 % of the mass);
    - the overall scale c log-uniform over two decades, 0.1 to 10 (data in [-1, 1] have c ~ 0.5);
    - means c * N(0, I) / sqrt(1 + r^2) around an offset c * r * u (|u| = 1), r uniform in 0..2:
      data away from the origin;
    - each component's widths c * w_k * a_kd, with w_k log-uniform in 0.02..0.5 and per-axis
      factors a_kd log-uniform in [1/A, 1], A log-uniform in 1..30 (anisotropy), the axes rotated
      at random where D <= 8 (above that the covariances stay diagonal, for speed).
    """
    g = torch.Generator().manual_seed(int(seed))
    f64 = dict(dtype=torch.float64)

    def log_uniform(lo: float, hi: float, *shape) -> torch.Tensor:
        return torch.exp(math.log(lo) + (math.log(hi) - math.log(lo)) * torch.rand(*shape, generator=g, **f64))

    D = int(dim) if dim is not None else int(round(float(log_uniform(2, 256, 1))))
    K = int(torch.randint(2, 17, (1,), generator=g))
    w = -torch.log(torch.rand(K, generator=g, **f64))  # flat Dirichlet = normalised exponentials
    w = w / w.sum()
    w = 0.01 + (1 - 0.01 * K) * w
    c = float(log_uniform(0.1, 10.0, 1))
    r = float(torch.rand(1, generator=g, **f64)) * 2
    u = torch.randn(D, generator=g, **f64)
    offset = c * r * u / u.norm()
    means = offset + c * torch.randn(K, D, generator=g, **f64) / math.sqrt(1 + r * r)
    width = log_uniform(0.02, 0.5, K, 1)
    anis = log_uniform(1.0, 30.0, K, 1)
    axes = torch.exp(-torch.log(anis) * torch.rand(K, D, generator=g, **f64))
    stds = c * width * axes
    if D > 8:
        return GaussianMixture(w, means, stds**2)
    q, rr = torch.linalg.qr(torch.randn(K, D, D, generator=g, **f64))
    q = q * torch.sign(torch.diagonal(rr, dim1=1, dim2=2))[:, None, :]
    cov = q @ torch.diag_embed(stds**2) @ q.transpose(1, 2)
    return GaussianMixture(w, means, cov)
