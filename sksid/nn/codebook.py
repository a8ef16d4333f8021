"""Vector-quantisation machinery shared by every sksid tokenizer (torch only).

* :func:`kmeans`: batched k-means (k-means++ or random init) on the tensor's device,
  seeded by an explicit :class:`torch.Generator`; ``spherical=True`` clusters directions
  (cosine k-means) for the cosine codebooks.
* :func:`residual_kmeans`: ``L`` levels of k-means on successive residuals (RQ-KMeans).
* :class:`CosineCodebook`: ``K`` codewords, cosine look-up (ADC-SID Eq. 5, 7-9),
  straight-through estimator, codebook + commitment loss, k-means init and dead-code
  re-seeding (:meth:`refresh`) so that codebook utilisation stays near 1.0, and an
  optional batch marginal-entropy balancing term (:meth:`_Codebook.balance_loss`).
* :class:`EuclideanCodebook`: the same with squared-Euclidean look-up (RQ-VAE).
* :class:`ResidualQuantizer`: ``L`` Euclidean codebooks on successive residuals.
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["kmeans", "residual_kmeans", "CosineCodebook", "EuclideanCodebook", "ResidualQuantizer"]


#: above this many points :func:`kmeans` uses scikit-learn's MiniBatchKMeans (a proven,
#: bounded-memory implementation) instead of full-batch Lloyd iterations
LARGE_KMEANS_POINTS = 200_000
_ASSIGN_CHUNK = 1 << 16


def _assign(x, centroids, spherical):
    """Nearest centroid of every row, in chunks of rows (memory ``O(chunk · k)``)."""
    out = []
    for s in range(0, x.shape[0], _ASSIGN_CHUNK):
        xs = x[s:s + _ASSIGN_CHUNK]
        out.append((xs @ centroids.T).argmax(1) if spherical else torch.cdist(xs, centroids).argmin(1))
    return torch.cat(out) if out else torch.zeros(0, dtype=torch.long, device=x.device)


def _minibatch_kmeans(x, k, n_iter, generator, spherical):
    """scikit-learn's MiniBatchKMeans (k-means++ init), seeded from ``generator``."""
    from sklearn.cluster import MiniBatchKMeans

    seed = int(torch.randint(2 ** 31 - 1, (1,), generator=generator))
    mb = MiniBatchKMeans(n_clusters=k, init="k-means++", n_init=1, random_state=seed,
                         batch_size=max(8192, 8 * k), max_iter=max(int(n_iter), 1),
                         max_no_improvement=10, reassignment_ratio=0.01)
    mb.fit(x.cpu().numpy())
    c = torch.as_tensor(mb.cluster_centers_, dtype=x.dtype, device=x.device)
    if spherical:
        c = F.normalize(c, dim=1)
    return c, _assign(x, c, spherical)


def kmeans(x: torch.Tensor, k: int, n_iter: int = 25, init: str = "k-means++",
           generator: torch.Generator | None = None, spherical: bool = False,
           init_centroids: torch.Tensor | None = None):
    """Batched Lloyd k-means on ``x`` (n, d), on ``x``'s device.

    Parameters
    ----------
    x : Tensor of shape (n, d)
    k : int
        Number of clusters; ``n >= k`` is required.
    n_iter : int, default=25
    init : {"k-means++", "random"}
    generator : torch.Generator, optional
        CPU generator that drives every random draw (seeding = determinism).
    spherical : bool, default=False
        Cluster unit directions with cosine similarity (centroids re-normalised).
    init_centroids : Tensor (k, d), optional
        Warm start (overrides ``init``).

    Above :data:`LARGE_KMEANS_POINTS` points (and without a warm start) the clustering
    is scikit-learn's ``MiniBatchKMeans`` (k-means++ init, seeded from ``generator``):
    full-batch Lloyd iterations cost ``O(n · k)`` memory per step and a k-means++ pass
    over every point per centroid.

    Returns
    -------
    centroids : Tensor (k, d)
    labels : Tensor (n,) int64

    Examples
    --------
    >>> x = torch.cat([torch.zeros(5, 2), torch.ones(5, 2)])
    >>> c, lab = kmeans(x, 2, generator=torch.Generator().manual_seed(0))
    >>> int(lab[:5].unique().numel()), int(lab[5:].unique().numel()), bool(lab[0] != lab[9])
    (1, 1, True)
    """
    x = x.detach().float()
    n = x.shape[0]
    if n < k:
        raise ValueError(f"k-means needs at least k={k} points, got {n}")
    if spherical:
        x = F.normalize(x, dim=1)
    g = generator if generator is not None else torch.Generator().manual_seed(0)
    if init_centroids is None and n > LARGE_KMEANS_POINTS:
        return _minibatch_kmeans(x, k, n_iter, g, spherical)
    if init_centroids is not None:
        c = init_centroids.detach().float().to(x.device).clone()
    elif init == "random":
        idx = torch.randperm(n, generator=g)[:k].to(x.device)
        c = x[idx].clone()
    elif init == "k-means++":
        first = int(torch.randint(n, (1,), generator=g))
        c = torch.empty(k, x.shape[1], device=x.device, dtype=x.dtype)
        c[0] = x[first]
        d2 = ((x - c[0]) ** 2).sum(1)
        for j in range(1, k):  # k steps, each batched over all points
            p = d2.clamp_min(0).cpu().double()
            if float(p.sum()) <= 0:
                nxt = int(torch.randint(n, (1,), generator=g))
            else:
                nxt = int(torch.multinomial(p / p.sum(), 1, generator=g))
            c[j] = x[nxt]
            d2 = torch.minimum(d2, ((x - c[j]) ** 2).sum(1))
    else:
        raise ValueError(f"init must be 'k-means++' or 'random', got {init!r}")
    labels = _assign(x, c, spherical)
    for _ in range(n_iter):
        sums = torch.zeros_like(c).index_add_(0, labels, x)
        counts = torch.bincount(labels, minlength=k).to(x.dtype)
        empty = counts == 0
        new = sums / counts.clamp_min(1)[:, None]
        if empty.any():  # re-seed empty clusters with the worst-served points
            err = ((x - c[labels]) ** 2).sum(1)
            far = err.topk(int(empty.sum())).indices
            new[empty] = x[far]
        if spherical:
            new = F.normalize(new, dim=1)
        c = new
        new_labels = _assign(x, c, spherical)
        if torch.equal(new_labels, labels):
            break
        labels = new_labels
    return c, labels


def residual_kmeans(x: torch.Tensor, k: int, n_levels: int, n_iter: int = 25,
                    generator: torch.Generator | None = None, init: str = "k-means++"):
    """Residual k-means (RQ-KMeans): level ``l`` clusters the residual of levels ``< l``.

    Returns
    -------
    centroids : list of Tensor (k, d), one per level
    codes : Tensor (n, n_levels) int64
    reconstruction : Tensor (n, d), the sum of the selected centroids
    """
    res = x.detach().float()
    recon = torch.zeros_like(res)
    cents, codes = [], []
    for _ in range(n_levels):
        c, lab = kmeans(res, k, n_iter=n_iter, generator=generator, init=init)
        cents.append(c)
        codes.append(lab)
        recon = recon + c[lab]
        res = res - c[lab]
    return cents, torch.stack(codes, 1), recon


class _Codebook(nn.Module):
    """Common VQ logic; subclasses define the geometry (``_prep`` and ``_lookup``)."""

    spherical = False

    def __init__(self, codebook_size: int, dim: int, commitment_weight: float = 0.25,
                 balance_weight: float = 0.0, balance_temperature: float = 0.1):
        super().__init__()
        if codebook_size < 2:
            raise ValueError(f"codebook_size must be >= 2, got {codebook_size}")
        if balance_weight < 0:
            raise ValueError(f"balance_weight must be >= 0, got {balance_weight}")
        if balance_temperature <= 0:
            raise ValueError(f"balance_temperature must be > 0, got {balance_temperature}")
        self.codebook_size = int(codebook_size)
        self.dim = int(dim)
        self.commitment_weight = float(commitment_weight)
        self.balance_weight = float(balance_weight)
        self.balance_temperature = float(balance_temperature)
        self.embed = nn.Parameter(torch.randn(codebook_size, dim) * 0.1)
        self.register_buffer("initialized", torch.zeros((), dtype=torch.bool))

    def _prep(self, z):
        return z

    def _codewords(self):
        return self.embed

    def _lookup(self, z, cw):  # pragma: no cover - abstract
        raise NotImplementedError

    def _similarity(self, z, cw):  # pragma: no cover - abstract
        """Look-up score (larger = closer): ``argmax`` of it is ``_lookup``."""
        raise NotImplementedError

    def balance_loss(self, z, cw):
        """Batch marginal-entropy (diversity) regulariser on the soft assignment.

        ``p_i = softmax(sim(z_i, c) / balance_temperature)`` over the ``K`` codewords
        (``sim`` = cosine for :class:`CosineCodebook`), ``p_bar = mean_i p_i``::

            (mean_i H(p_i) - H(p_bar)) / log K

        Minimising it **maximises the entropy of the batch-mean assignment** (every
        codeword used equally often in a batch) while keeping each item's assignment
        **confident** (low per-item entropy, so the soft assignment stays close to the
        hard ``argmax`` look-up). Lies in [-1, 1]; gradient flows to the latents (encoder)
        and to the codewords. Not in the paper (which reports utilisation 1.0 without a
        mechanism); see docs/tokenizers.md "Decisions".
        """
        logits = self._similarity(z, cw) / self.balance_temperature
        logp = torch.log_softmax(logits, dim=-1)
        p = logp.exp()
        per_item = -(p * logp).sum(-1).mean()
        p_bar = p.mean(0)
        marginal = -(p_bar * torch.log(p_bar.clamp_min(1e-12))).sum()
        return (per_item - marginal) / float(np.log(self.codebook_size))

    def forward(self, z: torch.Tensor):
        """Quantise ``z`` (B, dim).

        Returns
        -------
        z_used : Tensor (B, dim)
            The latent as the look-up sees it (unit-normalised for cosine codebooks).
        z_q : Tensor (B, dim)
            The selected codeword (unit-normalised for cosine codebooks), with gradient to
            the codebook.
        codes : Tensor (B,) int64
        loss : Tensor ()
            ``||sg(z) - z_q||^2 + commitment_weight * ||z - sg(z_q)||^2``, plus
            ``balance_weight * balance_loss`` in training mode when ``balance_weight > 0``
            (with ``balance_weight = 0`` nothing extra is computed).
        """
        zf = self._prep(z.float())
        cw = self._codewords().float()
        codes = self._lookup(zf.detach(), cw.detach())
        zq = cw[codes]
        loss = F.mse_loss(zq, zf.detach()) + self.commitment_weight * F.mse_loss(zf, zq.detach())
        if self.balance_weight > 0 and self.training and zf.shape[0] > 1:
            loss = loss + self.balance_weight * self.balance_loss(zf, cw)
        return zf, zq, codes, loss

    @staticmethod
    def straight_through(z, zq):
        """``z + sg(z_q - z)``: the forward value of ``z_q``, the gradient of ``z``."""
        return z + (zq - z).detach()

    @torch.no_grad()
    def encode(self, z):
        return self._lookup(self._prep(z.float()), self._codewords().float())

    @torch.no_grad()
    def init_kmeans(self, z, generator=None, n_iter=25):
        """Set the codewords to k-means centroids of ``z`` (all data or a first batch)."""
        zf = self._prep(z.float())
        c, _ = kmeans(zf, self.codebook_size, n_iter=n_iter, generator=generator,
                      spherical=self.spherical)
        self.embed.data.copy_(c.to(self.embed.dtype))
        self.initialized.fill_(True)

    @torch.no_grad()
    def refresh(self, z, max_rounds: int = 3) -> int:
        """Re-seed dead codewords with the worst-quantised current latents.

        A codeword used by no row of ``z`` is replaced by the latent with the largest
        quantisation error (distinct latents for distinct dead codes), which then selects
        it. Repeated up to ``max_rounds`` times. Returns the number of codes re-seeded.
        """
        zf = self._prep(z.float())
        total = 0
        for _ in range(max_rounds):
            cw = self._codewords().float()
            codes = self._lookup(zf, cw)
            used = torch.bincount(codes, minlength=self.codebook_size) > 0
            n_dead = int((~used).sum())
            if n_dead == 0 or zf.shape[0] < self.codebook_size:
                break
            err = ((zf - cw[codes]) ** 2).sum(1)
            # only take latents from codes used by >= 2 rows, so no live code dies
            counts = torch.bincount(codes, minlength=self.codebook_size)
            err = torch.where(counts[codes] > 1, err, torch.full_like(err, -1.0))
            n_take = min(n_dead, int((err >= 0).sum()))
            if n_take == 0:
                break
            far = err.topk(n_take).indices
            dead = (~used).nonzero().squeeze(1)[:n_take]
            self.embed.data[dead] = zf[far].to(self.embed.dtype)
            total += n_take
        return total


class CosineCodebook(_Codebook):
    """``K`` codewords with cosine look-up (ADC-SID Eq. 5, 7-9).

    Latents and codewords are unit-normalised before the look-up and in the returned
    ``z_used``/``z_q``, so that magnitudes in the fused sums of Eq. 10-11 come from the
    gates only.

    Examples
    --------
    >>> cb = CosineCodebook(4, 3)
    >>> z_used, z_q, codes, loss = cb(torch.randn(8, 3))
    >>> codes.shape, bool(codes.max() < 4)
    (torch.Size([8]), True)
    """

    spherical = True

    def _prep(self, z):
        return F.normalize(z, dim=-1)

    def _codewords(self):
        return F.normalize(self.embed, dim=-1)

    def _similarity(self, z, cw):
        return z @ cw.T  # cosine (both sides unit-normalised)

    def _lookup(self, z, cw):
        # Eq. 5 / 7-9: argmax_j cos(z, z_q_j) (both sides unit-normalised)
        return self._similarity(z, cw).argmax(-1)


class EuclideanCodebook(_Codebook):
    """``K`` codewords with squared-Euclidean look-up (RQ-VAE / TIGER).

    Examples
    --------
    >>> cb = EuclideanCodebook(4, 3)
    >>> cb(torch.randn(8, 3))[2].shape
    torch.Size([8])
    """

    def _similarity(self, z, cw):
        return -torch.cdist(z, cw) ** 2

    def _lookup(self, z, cw):
        return torch.cdist(z, cw).argmin(-1)


class ResidualQuantizer(nn.Module):
    """``n_levels`` Euclidean codebooks applied to successive residuals (RQ-VAE).

    ``forward(z)`` returns ``(z_q_st, codes (B, L), loss)`` where ``z_q_st`` is the
    straight-through sum of the selected codewords.

    Examples
    --------
    >>> rq = ResidualQuantizer(4, 3, n_levels=2)
    >>> zq, codes, loss = rq(torch.randn(8, 3))
    >>> codes.shape
    torch.Size([8, 2])
    """

    def __init__(self, codebook_size: int, dim: int, n_levels: int, commitment_weight: float = 0.25):
        super().__init__()
        self.levels = nn.ModuleList(
            EuclideanCodebook(codebook_size, dim, commitment_weight) for _ in range(n_levels))

    def forward(self, z):
        res = z.float()
        zq_sum = torch.zeros_like(res)
        codes, loss = [], res.new_zeros(())
        for cb in self.levels:
            _, zq, c, l_ = cb(res)
            codes.append(c)
            loss = loss + l_
            zq_sum = zq_sum + zq
            res = res - zq.detach()
        return _Codebook.straight_through(z.float(), zq_sum), torch.stack(codes, 1), loss

    @torch.no_grad()
    def _residual_walk(self, z, fn):
        res = z.float()
        for cb in self.levels:
            fn(cb, res)
            cw = cb._codewords().float()
            res = res - cw[cb.encode(res)]

    @torch.no_grad()
    def init_kmeans(self, z, generator=None):
        self._residual_walk(z, lambda cb, r: cb.init_kmeans(r, generator=generator))

    @torch.no_grad()
    def refresh(self, z):
        n = [0]
        self._residual_walk(z, lambda cb, r: n.__setitem__(0, n[0] + cb.refresh(r)))
        return n[0]

    @torch.no_grad()
    def encode(self, z):
        res, codes = z.float(), []
        for cb in self.levels:
            c = cb.encode(res)
            codes.append(c)
            res = res - cb._codewords().float()[c]
        return torch.stack(codes, 1)
