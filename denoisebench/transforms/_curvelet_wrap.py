"""A decimated curvelet tight frame by wrapping (low redundancy, real coefficients).

The windows are those of the undecimated frame (:mod:`denoisebench.transforms._curvelet`): the
coarse low-pass ``W_0`` and the directional ``W_s`` (radial × angular, ``Σ_s W_s² = 1``).  Each
directional window, even in ``k``, is split into its two opposite wedges, ``W_s⁺ = W_s √h_s`` and
``W_s⁻(k) = W_s⁺(−k)`` with ``h_s(k) + h_s(−k) = 1``, ``h_s ∈ {0, 1}`` (the half-plane facing the
wedge's direction ``θ_s``).  Only ``W_s⁺`` is kept, with complex coefficients; for real images the
coefficients of ``W_s⁻`` are their conjugates, so each complex coefficient is stored once, as two
real numbers ``(Re c, Im c)``.

**Wrapping** (Candès, Demanet, Donoho & Ying 2006, §3.2-3.3; Nguyen & Chauris 2010): the support of
``W_s⁺`` (unwrapped around the wedge's centre on the periodic DFT grid) is periodised onto a small
``L_y × L_x`` grid, ``q = k mod (L_y, L_x)``, where, along the wedge's principal axis, ``L`` is its
extent, and across it, ``L`` is the largest extent of one line of the support (the wedge may be
sheared: every line needs only its own span).  Two support points then never land on one ``q``
(checked at construction), so periodisation is an isometry on the support, and the coefficients are
the ``L_y × L_x`` inverse FFT of the wrapped ``√2 W_s⁺ x̂``: about as many as the wedge's support
area.  Points ``k ≡ −k`` (the Nyquist corners of even sides) form one real coefficient each, and
the coarse scale a real ``L_y × L_x`` band (its support is symmetric about 0).

**Tight frame.**  With unitary DFTs, ``Σ|c|² = Σ_s Σ_k 2 h_s W_s² |x̂|² = Σ_k Σ_s W_s² |x̂|² = ‖x‖²``
(``|x̂(k)| = |x̂(−k)|``); the adjoint ``x = Re Σ_s F⁻¹(√2 W_s⁺ P_s*(F_s c_s)) + …`` is the inverse.
Under white noise σ every real coefficient of subband ``s`` has standard deviation exactly
``σ ‖W_s⁺‖₂ / √(N_s)`` (``N_s = L_y L_x``; unitary ``‖·‖`` on the image grid, :attr:`atom_norms`):
the distinct ``x̂(k)`` in one wedge are independent with ``E x̂(k)² = 0`` (no ``−k`` in it), so
the real and imaginary parts share ``E|c|²`` equally.

References
----------
.. [1] E. Candès, L. Demanet, D. Donoho, L. Ying, "Fast discrete curvelet transforms",
   Multiscale Model. Simul. 5(3):861-899, 2006, §3.2-3.3 (wrapping), §6 (real-valued curvelets).
.. [2] T. T. Nguyen, H. Chauris, "Uniform discrete curvelet transform", IEEE Trans. Signal
   Process. 58(7):3618-3634, 2010 (decimated windows, redundancy ≈ 2-4).
.. [3] S. Mallat, *A Wavelet Tour of Signal Processing*, 3rd ed., §5.1 (tight frames), §5.5.2
   (curvelet frames).
"""
from __future__ import annotations

import functools
import math

import array_api_compat
import numpy as np
import scipy.fft

from .._array_api import array_namespace, asarray_like, device_of, fft_of
from ._curvelet import _full_windows_squared, angles_per_scale, frame_args

__all__ = ["WrappedCurveletFrame", "curvelet_wrap_frame"]

_AXES = (-2, -1)
#: Squared window values below this count as outside the support (then the squares are renormalised
#: to sum to 1 exactly): a window edge of at most 1e-4, and 12% fewer coefficients at 256² than at
#: the rounding floor 1e-20 (redundancy 4.35 against 4.96, measured).
_FLOOR = 1e-8


def _half_split(fy, fx, theta):
    """``h(k) ∈ {0, 1}`` with ``h(k) + h(−k) = 1`` off the self-conjugate points: the half-plane
    ``⟨f(k) − f(−k), e_θ⟩ > 0`` (``f`` the signed frequency), ties broken on the Nyquist lines."""
    dy = fy - np.roll(fy[::-1, :], 1, axis=0)  # f(k) − f(−k), f(−k) read off the grid (Nyquist lines)
    dx = fx - np.roll(fx[:, ::-1], 1, axis=1)
    proj = dy * math.sin(theta) + dx * math.cos(theta)
    tie = np.abs(proj) < 1e-12
    return np.where(tie, (dy > 0) | ((dy == 0) & (dx > 0)), proj > 0).astype(np.float64)


def _unwrap(k, centre, period):
    """Representatives of the integer frequencies ``k`` closest to ``centre`` (mod ``period``)."""
    return centre + (k - centre + period // 2) % period - period // 2


def _line_span(major, minor):
    """Largest span of ``minor`` over the lines of constant ``major``."""
    order = np.lexsort((minor, major))
    major, minor = major[order], minor[order]
    starts = np.flatnonzero(np.r_[True, major[1:] != major[:-1]])
    ends = np.r_[starts[1:], major.size] - 1
    return int(np.max(minor[ends] - minor[starts])) + 1


def _wedge_grid(ky, kx, shape):
    """``(L_y, L_x)``, the smaller wrapping rectangle of the support ``(ky, kx)``."""
    h, w = shape
    by_rows = (min(h, int(np.ptp(ky)) + 1), min(w, _line_span(ky, kx)))
    by_cols = (min(h, _line_span(kx, ky)), min(w, int(np.ptp(kx)) + 1))
    return by_rows if by_rows[0] * by_rows[1] <= by_cols[0] * by_cols[1] else by_cols


class _OneWorker:
    """scipy.fft on one thread: a batch of small transforms loses to the thread start-up (measured at
    256²: 37 ms on 2 workers against 7 ms on one, 8 images)."""

    @staticmethod
    def fftn(x, axes=None):
        return scipy.fft.fftn(x, axes=axes, workers=1)

    @staticmethod
    def ifftn(x, axes=None):
        return scipy.fft.ifftn(x, axes=axes, workers=1)


def _as_pairs(c, xp):
    """Complex ``c`` (..., m, L_y, L_x) as real ``(..., 2 m L_y L_x)``: (Re, Im) side by side."""
    lead = tuple(c.shape[:-3])
    if array_api_compat.is_numpy_array(c):
        return np.ascontiguousarray(c).view(c.real.dtype).reshape(lead + (-1,))
    if array_api_compat.is_torch_array(c):
        import torch

        return torch.view_as_real(c.contiguous()).reshape(lead + (-1,))
    return xp.reshape(xp.stack([xp.real(c), xp.imag(c)], axis=-1), lead + (-1,))


def _from_pairs(r, xp):
    """Inverse of :func:`_as_pairs`, flat: real ``(..., 2 K)`` → complex ``(..., K)``."""
    lead = tuple(r.shape[:-1])
    if array_api_compat.is_numpy_array(r):
        return np.ascontiguousarray(r).view(np.complex64 if r.dtype == np.float32 else np.complex128)
    if array_api_compat.is_torch_array(r):
        import torch

        return torch.view_as_complex(r.reshape(lead + (-1, 2)).contiguous())
    pairs = xp.reshape(r, lead + (-1, 2))
    cdtype = xp.complex64 if r.dtype == xp.float32 else xp.complex128
    return xp.astype(pairs[..., 0], cdtype) + xp.astype(pairs[..., 1], cdtype) * 1j


def _index_like(host, like, xp):
    """Host int64 indices on ``like``'s device (cached copies, as :func:`asarray_like`)."""
    if array_api_compat.is_array_api_strict_namespace(xp):  # its asarray takes no numpy dtype
        return xp.asarray(host, device=device_of(like))
    return asarray_like(host, like, dtype=xp.int64)


def _small_fft(xp):
    """The FFTs of the wrapped grids: scipy.fft on one worker for numpy, else ``xp.fft``."""
    return _OneWorker if array_api_compat.is_numpy_namespace(xp) else xp.fft


def _fast(n, full):
    """Next FFT-friendly length (5-smooth), never beyond the image side (``full`` is always valid)."""
    m = scipy.fft.next_fast_len(n)
    return full if m >= full else m


class WrappedCurveletFrame:
    """The decimated (wrapping) curvelet tight frame of one image shape; see :func:`curvelet_wrap_frame`.

    Coefficients of images ``(..., H, W)`` are one real vector ``(..., M)`` per image; subband
    ``s`` owns the entries where :attr:`subband_of` equals ``s``.

    Attributes
    ----------
    shape, scales, angles : as in :class:`~denoisebench.transforms.CurveletFrame`
    n_coefficients : int
        ``M``, real coefficients per image (a complex coefficient counts as two).
    atom_norms : ndarray (S,)
        Std of unit white noise's coefficients in each subband (exact, see the module notes).
    subband_scale : ndarray of int (S,)
        Scale of each subband (0 = coarse; the Nyquist corners count in the finest scale).
    subband_angle : ndarray (S,)
        Centre ``θ`` of each wedge's direction in ``[0, π)`` (NaN for the coarse band and the corners).
    subband_of : ndarray of int (M,)
        Subband of each coefficient.
    """

    def __init__(self, shape, scales, angles):
        h, w = shape
        self.shape, self.scales = (h, w), int(scales)
        self.angles = angles_per_scale(scales, angles)
        w2, scale_of = _full_windows_squared((h, w), self.scales, self.angles)
        w2 = np.where(w2 > _FLOOR, w2, 0.0)
        w2 /= w2.sum(axis=0)  # the partition of unity again, exactly
        channels = _channels(w2, scale_of, self.angles, (h, w))
        self._build(channels)

    # -- construction ---------------------------------------------------------------
    def _build(self, channels):
        """Group the channels (same kind, scale, grid) and precompute the gathers of both directions."""
        h, w = self.shape
        n, wh = h * w, w // 2 + 1
        groups = {}  # channels of one kind and one (FFT-friendly) grid: one batched FFT
        for ch in channels:
            groups.setdefault((ch["complex"], _fast(ch["grid"][0], h), _fast(ch["grid"][1], w)), []).append(ch)
        self.groups, norms, scale, angle, sub_of = [], [], [], [], []
        src, a_w = [], []
        syn = []  # (half-plane index, index into the spectra vector, weight) triples
        offset = 0
        for (is_complex, ly, lx), chans in sorted(groups.items()):
            small = ly * lx
            gain = math.sqrt(2.0) if is_complex else 1.0
            for i, ch in enumerate(chans):
                ky, kx, v = ch["ky"], ch["kx"], ch["v"]
                q = (ky % ly) * lx + (kx % lx)
                if np.unique(q).size != q.size:
                    raise AssertionError("wrapping is not injective")  # pragma: no cover - construction bug
                slot = np.zeros(small, np.int64)
                wt = np.zeros(small)
                iy, ix = ky % h, kx % w
                plain = ix < wh
                slot[q] = np.where(plain, iy * wh + ix, h * wh + ((-iy) % h) * wh + ((-ix) % w))
                wt[q] = gain * v * math.sqrt(small / n)
                src.append(slot)
                a_w.append(wt)
                s_w = v * math.sqrt(n / small) / gain
                base = offset + i * small
                syn.append((iy[plain] * wh + ix[plain], base + q[plain], s_w[plain]))
                if is_complex:  # conj(Z(−k)) lands on −k
                    jy, jx = (-iy) % h, (-ix) % w
                    back = jx < wh
                    syn.append((jy[back] * wh + jx[back], -(base + q[back]) - 1, s_w[back]))
                norms.append(math.sqrt(float(np.sum(v**2)) / small))
                scale.append(ch["scale"])
                angle.append(ch.get("theta", math.nan))
            self.groups.append((is_complex, len(chans), ly, lx))
            first = len(norms) - len(chans)
            per = np.repeat(np.arange(first, first + len(chans)), small)
            sub_of.append(np.repeat(per, 2) if is_complex else per)  # (Re, Im) pairs side by side
            offset += len(chans) * small
        self.n_spectra = offset
        self.n_coefficients = sum((2 if c else 1) * m * a * b for c, m, a, b in self.groups)
        self._src = np.concatenate(src)
        self._a_w = np.concatenate(a_w)
        self._syn_idx, self._syn_w = _pack(syn, h * wh, offset)
        self._syn_flat = self._syn_idx.reshape(-1)
        self.atom_norms = np.asarray(norms)
        self.subband_scale = np.asarray(scale)
        self.subband_angle = np.asarray(angle)
        self.subband_of = np.concatenate(sub_of)
        for a in (self._src, self._a_w, self._syn_idx, self._syn_flat, self._syn_w, self.atom_norms, self.subband_scale,
                  self.subband_angle, self.subband_of):
            a.flags.writeable = False

    @property
    def n_subbands(self):
        return self.atom_norms.shape[0]

    @property
    def redundancy(self):
        """Real coefficients per pixel, ``M / (H W)``."""
        return self.n_coefficients / (self.shape[0] * self.shape[1])

    def per_coefficient(self, values, sl, like):
        """Per-subband host ``values`` (S,) spread over the coefficients, as an ``(M,)`` array like ``like``
        (``sl`` is the slice :meth:`apply` passed: all subbands)."""
        return asarray_like(np.asarray(values)[self.subband_of], like)

    # -- analysis / synthesis -------------------------------------------------------
    def forward(self, x):
        """Real coefficients ``(..., M)`` of real images ``x`` of shape ``(..., H, W)``."""
        xp = array_namespace(x)
        fft, small = fft_of(xp), _small_fft(xp)
        spec = fft.rfftn(x, axes=_AXES)
        lead = tuple(spec.shape[:-2])
        flat = xp.reshape(spec, lead + (-1,))
        both = xp.concat([flat, xp.conj(flat)], axis=-1)
        idx = _index_like(self._src, x, xp)
        wrapped = xp.take(both, idx, axis=-1) * asarray_like(self._a_w, x)
        out, start = [], 0
        for is_complex, m, ly, lx in self.groups:
            size = m * ly * lx
            part = xp.reshape(wrapped[..., start:start + size], lead + (m, ly, lx))
            c = small.ifftn(part, axes=_AXES)
            out.append(_as_pairs(c, xp) if is_complex else xp.reshape(xp.real(c), lead + (size,)))
            start += size
        return xp.concat(out, axis=-1)

    def inverse(self, c):
        """Images ``(..., H, W)`` from real coefficients ``(..., M)`` (the adjoint = the inverse)."""
        xp = array_namespace(c)
        fft, small = fft_of(xp), _small_fft(xp)
        lead = tuple(c.shape[:-1])
        cdtype = xp.complex64 if c.dtype == xp.float32 else xp.complex128
        spectra, start = [], 0
        for is_complex, m, ly, lx in self.groups:
            size = m * ly * lx
            reals = (2 if is_complex else 1) * size
            part = c[..., start:start + reals]
            start += reals
            part = _from_pairs(part, xp) if is_complex else xp.astype(part, cdtype)
            spec = small.fftn(xp.reshape(part, lead + (m, ly, lx)), axes=_AXES)
            spectra.append(xp.reshape(spec, lead + (size,)))
        flat = xp.concat(spectra, axis=-1)
        zero = xp.zeros(lead + (1,), dtype=flat.dtype, device=device_of(flat))
        both = xp.concat([flat, xp.conj(flat), zero], axis=-1)
        d, k = self._syn_idx.shape
        g = xp.take(both, _index_like(self._syn_flat, c, xp), axis=-1)
        g = xp.sum(xp.reshape(g, lead + (d, k)) * asarray_like(self._syn_w, c), axis=-2)
        h, w = self.shape
        return fft.irfftn(xp.reshape(g, lead + (h, w // 2 + 1)), s=self.shape, axes=_AXES)

    def apply(self, fn, *images):
        """``inverse(fn(slice(None), forward(images[0]), forward(images[1]), …))``: the same call as
        :meth:`CurveletFrame.apply` (here all subbands at once; coefficients ``(..., M)``)."""
        return self.inverse(fn(slice(None), *[self.forward(im) for im in images]))


def _channels(w2, scale_of, angles, shape):
    """The frame's channels: the coarse band, one complex wedge per directional window, and one
    real coefficient per self-conjugate point; each with its support ``(ky, kx)``, window ``v``
    there, scale, kind and wrapping grid."""
    h, w = shape
    fy = np.broadcast_to(np.fft.fftfreq(h)[:, None], shape)
    fx = np.broadcast_to(np.fft.fftfreq(w)[None, :], shape)
    iy = np.broadcast_to(np.arange(h)[:, None], shape)
    ix = np.broadcast_to(np.arange(w)[None, :], shape)
    selfconj = ((-iy) % h == iy) & ((-ix) % w == ix)
    sy, sx = np.rint(fy * h).astype(np.int64), np.rint(fx * w).astype(np.int64)
    out = []
    coarse = w2[0] > 0  # symmetric about 0, inside |k| < side/2: signed frequencies need no unwrapping
    ky, kx = sy[coarse], sx[coarse]
    out.append(dict(complex=False, scale=0, ky=ky, kx=kx, v=np.sqrt(w2[0][coarse]),
                    grid=(min(h, 2 * int(np.max(np.abs(ky))) + 1), min(w, 2 * int(np.max(np.abs(kx))) + 1))))
    rest = np.where(selfconj, 1.0 - w2[0], 0.0)
    for y0, x0 in zip(*np.nonzero(rest > 0)):
        out.append(dict(complex=False, scale=len(angles), ky=sy[y0, x0:x0 + 1], kx=sx[y0, x0:x0 + 1],
                        v=np.sqrt(rest[y0, x0:x0 + 1]), grid=(1, 1)))
    s = 1
    for j, n in enumerate(angles, start=1):
        radius = np.hypot(fy, fx)
        for l in range(n):
            theta = l * math.pi / n
            v2 = w2[s] * _half_split(fy, fx, theta) * ~selfconj
            s += 1
            keep = v2 > 0
            if not keep.any():  # the image is too small for this many scales and angles
                raise ValueError(f"curvelet (wrap): a {h}x{w} image is too small for {len(angles)} scales with "
                                 f"{list(angles)} angles (wedge {l} of scale {j} is empty): use larger images "
                                 "or fewer scales/angles")
            r = float(np.sum(radius * w2[s - 1]) / np.sum(w2[s - 1]))
            ky = _unwrap(sy[keep], r * h * math.sin(theta), h)
            kx = _unwrap(sx[keep], r * w * math.cos(theta), w)
            ky, kx = np.rint(ky).astype(np.int64), np.rint(kx).astype(np.int64)
            grid = _wedge_grid(ky, kx, shape)
            out.append(dict(complex=True, scale=j, theta=theta, ky=ky, kx=kx, v=np.sqrt(v2[keep]), grid=grid))
    return out


def _pack(triples, k_half, n_spectra):
    """Synthesis gathers as ``(D, K)`` index and weight arrays: half-plane point ``p`` sums
    ``w[d, p] · spectra[idx[d, p]]`` over ``d`` (indices past ``n_spectra`` read conjugates; the
    last slot, ``2 n_spectra``, is a zero)."""
    pos = np.concatenate([t[0] for t in triples])
    ref = np.concatenate([t[1] for t in triples])
    wt = np.concatenate([t[2] for t in triples])
    ref = np.where(ref < 0, n_spectra + (-ref - 1), ref)
    order = np.argsort(pos, kind="stable")
    pos, ref, wt = pos[order], ref[order], wt[order]
    first = np.searchsorted(pos, pos, side="left")
    rank = np.arange(pos.size) - first
    depth = int(rank.max()) + 1
    idx = np.full((depth, k_half), 2 * n_spectra, np.int64)
    weights = np.zeros((depth, k_half))
    idx[rank, pos], weights[rank, pos] = ref, wt
    return idx, weights


@functools.lru_cache(maxsize=8)
def _cached_frame(shape, scales, angles):
    return WrappedCurveletFrame(shape, scales, angles)


def curvelet_wrap_frame(shape, scales=None, angles=8):
    """The (cached) :class:`WrappedCurveletFrame` for images of ``shape = (H, W)``.

    Parameters are those of :func:`~denoisebench.transforms.curvelet_frame` (same windows).
    """
    return _cached_frame(*frame_args(shape, scales, angles))
