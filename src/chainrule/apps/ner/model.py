"""The window network of Collobert et al. (2011), with a softmax or a CRF on top.

For each word the network reads a window of ``2 * window + 1`` tokens. Every token in the
window is described by a few integer features (word, capitalisation, ...; see
:mod:`chainrule.apps.ner.data`); each feature has its own embedding table. The embeddings
of all positions are concatenated into one vector, which goes through a hidden layer
(``tanh`` or ``relu``) and a linear layer giving one score per tag::

    ids (n, W) per feature -> embed -> concat (n, W * Σ dims) -> dropout
        -> hidden (n, H) -> act -> dropout -> scores (n, K)

Two ways to train and decode those scores:

``softmax``
    word-level log-likelihood (WLL): each word's scores are a softmax over tags, trained
    with cross-entropy; decoding takes the best tag of each word independently.
``crf``
    sentence-level log-likelihood (SLL): the scores are a CRF's emissions, together with
    learned transition, start and end scores (:mod:`chainrule.apps.ner.crf`); decoding is
    Viterbi over whole sentences.

Embedding lookups use :func:`chainrule.embedding`, so their gradients are row-sparse: a
step costs time proportional to the batch, not to the vocabulary.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping
from typing import Any

import numpy as np

import chainrule as cr
from chainrule import nn
from chainrule.core import ChainruleError, Tensor
from chainrule.nn import functional as F

from .crf import constraint_penalties, crf_nll, viterbi_decode
from .data import Batch, EncodedCorpus, FeatureExtractor

__all__ = [
    "ACTIVATIONS",
    "DECODERS",
    "MODEL_FILES",
    "MODEL_FOLDER_FILES",
    "ModelError",
    "WindowTagger",
    "load_tagger",
    "padded_length",
    "save_tagger",
]

MODEL_FILES = {"config": "config.json", "vocab": "vocab.json", "weights": "model.ckpt"}
#: Every file a model folder written by ``chainrule ner train`` may hold.
MODEL_FOLDER_FILES = frozenset({*MODEL_FILES.values(), "metrics.json", "learning_curve.png"})
_FORMAT = "chainrule.ner.model"

ACTIVATIONS = ("tanh", "relu", "hardtanh")
DECODERS = ("softmax", "crf")


class ModelError(ChainruleError):
    """Invalid model settings or inputs that do not fit the model."""


def _act(x: Any, name: str) -> Any:
    if name == "tanh":
        return cr.tanh(x)
    if name == "relu":
        return cr.relu(x)
    return cr.clip(x, -1.0, 1.0)  # hardtanh, Collobert's cheap tanh


class WindowTagger(nn.Module):
    """Window-approach tagger: embeddings -> hidden layer -> tag scores (-> CRF).

    Parameters
    ----------
    table_sizes : mapping of str -> int
        Feature name -> number of rows of its embedding table (padding included).
    dims : mapping of str -> int
        Feature name -> embedding dimension (same keys as ``table_sizes``).
    window : int
        Context tokens on each side.
    n_tags : int
        Number of output tags.
    hidden : int
        Hidden-layer width (0: no hidden layer, a linear model on the embeddings).
    activation : {"tanh", "relu", "hardtanh"}
    dropout : float
        Dropout rate on the concatenated window vector and on the hidden layer.
    decoder : {"softmax", "crf"}
    constraints : tuple of three bool arrays, optional
        ``(start_ok, trans_ok, end_ok)`` from :meth:`TagSet.transition_mask`: forbidden
        transitions get a large constant penalty in the CRF (training and decoding) and in
        the constrained softmax decoder.
    rng : numpy.random.Generator
        Initialisation and dropout randomness.
    dtype : numpy dtype
        Parameter dtype (float32 by default: twice as fast as float64 for the same result).
    init_scale : float
        Embeddings start uniform in ``[-init_scale, init_scale]``.

    Examples
    --------
    >>> import numpy as np
    >>> m = WindowTagger({"word": 10, "caps": 6}, {"word": 4, "caps": 2}, window=1,
    ...                  n_tags=3, hidden=8, rng=np.random.default_rng(0))
    >>> ids = {"word": np.array([[0, 3, 4]]), "caps": np.array([[0, 2, 1]])}
    >>> m.scores(ids).shape
    (1, 3)
    """

    def __init__(
        self,
        table_sizes: Mapping[str, int],
        dims: Mapping[str, int],
        window: int,
        n_tags: int,
        hidden: int = 300,
        activation: str = "tanh",
        dropout: float = 0.0,
        decoder: str = "softmax",
        constraints: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None,
        rng: np.random.Generator | None = None,
        dtype: Any = np.float32,
        init_scale: float = 0.1,
    ) -> None:
        super().__init__()
        if set(table_sizes) != set(dims):
            raise ModelError(
                f"table_sizes and dims must name the same features, got "
                f"{sorted(table_sizes)} and {sorted(dims)}"
            )
        if activation not in ACTIVATIONS:
            raise ModelError(f"unknown activation {activation!r}; choose one of {ACTIVATIONS}")
        if decoder not in DECODERS:
            raise ModelError(f"unknown decoder {decoder!r}; choose one of {DECODERS}")
        if not 0.0 <= dropout < 1.0:
            raise ModelError(f"dropout must be in [0, 1), got {dropout}")
        rng = rng if rng is not None else np.random.default_rng(0)
        # Everything needed to rebuild this architecture (saved as config.json).
        self.arch = {
            "features": list(table_sizes),
            "table_sizes": {f: int(n) for f, n in table_sizes.items()},
            "dims": {f: int(dims[f]) for f in table_sizes},
            "window": int(window),
            "n_tags": int(n_tags),
            "hidden": int(hidden),
            "activation": activation,
            "dropout": float(dropout),
            "decoder": decoder,
            "constrained": constraints is not None,
            "dtype": np.dtype(dtype).name,
        }
        self.features = tuple(table_sizes)
        self.window = int(window)
        self.width = 2 * self.window + 1
        self.activation = activation
        self.decoder = decoder
        self.n_tags = int(n_tags)
        self.hidden_size = int(hidden)
        dt = np.dtype(dtype)
        in_dim = 0
        for f in self.features:
            n, d = int(table_sizes[f]), int(dims[f])
            # Sparse: a step touches only the rows in the batch. No padding_idx: the
            # padding row is a learned "sentence boundary" vector, as in Collobert et al.
            emb = nn.Embedding(n, d, sparse=True, rng=rng, dtype=dt)
            nn.init.uniform_(emb.weight, -init_scale, init_scale, rng=rng)
            setattr(self, f"emb_{f}", emb)
            in_dim += self.width * d
        self.in_dim = in_dim
        self.drop = nn.Dropout(dropout, rng=rng)
        if self.hidden_size > 0:
            self.hidden = nn.Linear(in_dim, self.hidden_size, rng=rng, dtype=dt)
            out_in = self.hidden_size
        else:
            out_in = in_dim
        self.out = nn.Linear(out_in, self.n_tags, rng=rng, dtype=dt)
        if decoder == "crf":
            self.trans = nn.Parameter(np.zeros((n_tags, n_tags)), dtype=dt)
            self.start = nn.Parameter(np.zeros(n_tags), dtype=dt)
            self.end = nn.Parameter(np.zeros(n_tags), dtype=dt)
        if constraints is not None:
            pen = constraint_penalties(*constraints, dtype=dt)
            if pen[1].shape != (n_tags, n_tags):
                raise ModelError(f"constraints are for {pen[1].shape[0]} tags, model has {n_tags}")
            self._penalties: tuple[np.ndarray, np.ndarray, np.ndarray] | None = pen
        else:
            self._penalties = None

    # ------------------------------------------------------------------ network
    def table(self, feature: str) -> nn.Parameter:
        """The embedding table (a Parameter) of ``feature``."""
        return getattr(self, f"emb_{feature}").weight

    def scores(self, windows: Mapping[str, np.ndarray]) -> Tensor:
        """Tag scores ``(n, n_tags)`` for ``n`` windows (per feature, ids of shape (n, W))."""
        ids = self._ids(windows)
        return self.network(*self.dropout_masks(ids[0].shape[0]), *ids)

    def _ids(self, windows: Mapping[str, np.ndarray]) -> list[np.ndarray]:
        """The id arrays of the model's features, in order, checked."""
        out = []
        for f in self.features:
            ids = windows.get(f)
            if ids is None:
                raise ModelError(f"the batch has no {f!r} feature (it has {sorted(windows)})")
            if ids.ndim != 2 or ids.shape[1] != self.width:
                raise ModelError(
                    f"feature {f!r}: expected windows of shape (n, {self.width}), got {ids.shape}"
                )
            out.append(ids)
        return out

    def dropout_masks(self, n: int) -> tuple[np.ndarray | None, np.ndarray | None]:
        """The two dropout masks of ``n`` windows (scaled by ``1/(1-p)``), or None each.

        Drawn from ``self.drop.rng`` exactly as :func:`chainrule.nn.functional.dropout`
        draws them (the window vector's first, then the hidden layer's), so passing them to
        :meth:`network` gives the same numbers as the dropout layer. None in eval mode or
        with ``dropout=0``. They are drawn here, outside the network, so the network is a
        function of arrays only and can be compiled (a mask drawn inside would be frozen).
        """
        p = self.drop.p
        if not self.training or p == 0.0:
            return None, None
        rng = self.drop.rng
        if rng is None:
            from chainrule.nn.init import default_rng

            rng = default_rng()
        dt = self.out.weight.dtype
        dt = dt if dt in (np.float32, np.float64) else np.dtype(np.float64)
        masks = []
        for width in (self.in_dim, self.hidden_size):
            if width == 0:
                masks.append(None)
                continue
            keep = rng.random((n, width), dtype=dt) >= p
            mask = keep.astype(dt)
            mask *= 1.0 / (1.0 - p)
            masks.append(mask)
        return masks[0], masks[1]

    def network(self, keep_in: Any, keep_hidden: Any, *ids: Any) -> Tensor:
        """Tag scores ``(n, n_tags)`` from the feature ids (one ``(n, W)`` array per
        feature, in :attr:`features` order) and the dropout masks (None: no dropout).

        A function of its arguments and the parameters only: it can be traced by
        :func:`chainrule.compile`.
        """
        n = ids[0].shape[0]
        parts = [
            getattr(self, f"emb_{f}")(i).reshape(n, -1)  # (n, W * d)
            for f, i in zip(self.features, ids, strict=True)
        ]
        x = parts[0] if len(parts) == 1 else cr.concatenate(parts, axis=1)
        if keep_in is not None:
            x = x * keep_in
        if self.hidden_size > 0:
            x = _act(self.hidden(x), self.activation)
            if keep_hidden is not None:
                x = x * keep_hidden
        return self.out(x)

    def crf_params(self) -> tuple[Any, Any, Any]:
        """(start, trans, end) scores of the CRF, constraint penalties included."""
        if self.decoder != "crf":
            raise ModelError("crf_params: this model has a softmax decoder")
        if self._penalties is None:
            return self.start, self.trans, self.end
        ps, pt, pe = self._penalties
        return self.start + ps, self.trans + pt, self.end + pe

    def padded(self, scores: Any, mask: np.ndarray) -> Any:
        """Lay out per-token rows ``(n, K)`` as ``(B, T, K)`` following ``mask`` (zeros at
        padding)."""
        n = int(mask.sum())
        if scores.shape[0] != n:
            raise ModelError(f"{scores.shape[0]} score rows for a mask with {n} tokens")
        index = np.full(mask.shape, n, dtype=np.int64)
        index[mask] = np.arange(n)
        zero = np.zeros((1, scores.shape[1]), dtype=scores.dtype)
        return cr.concatenate([scores, zero], axis=0)[index]

    # ------------------------------------------------------------------ training
    def loss(self, batch: Batch, fn: Any = None, pad: bool = False) -> Tensor:
        """Mean loss per token of a batch: cross-entropy (softmax) or CRF NLL (crf).

        In training mode the dropout masks are drawn (:meth:`dropout_masks`). ``fn``
        replaces :meth:`loss_fn`: :meth:`compiled_loss` gives the compiled one. ``pad``
        pads the time axis of sentence batches (:meth:`loss_args`), for a compiled ``fn``.
        """
        if self.decoder == "crf" and batch.mask is None:
            raise ModelError("the CRF decoder trains on sentence batches (with a mask)")
        out = (fn or self.loss_fn)(*self.loss_args(batch, pad=pad))
        if self.decoder == "crf":
            out = out / max(batch.n_tokens, 1)
        return out

    def loss_args(self, batch: Batch, pad: bool = False) -> tuple:
        """The arrays :meth:`loss_fn` takes for ``batch`` (dropout masks drawn now).

        softmax: ``(tags, keep_in, keep_hidden, *ids)``; crf: ``(tags, mask, index, keep_in,
        keep_hidden, *ids)`` with ``index[b, t]`` the row of token ``t`` of sentence ``b``
        in the network's output (padding: the zero row after the last one).

        ``pad`` (crf): the time axis is padded to :func:`padded_length` (masked-out
        columns), so that a compiled CRF sees a few shapes (one trace each) instead of one
        per longest-sentence length. The loss and its gradients do not change.
        """
        ids = self._ids(batch.windows)
        n = ids[0].shape[0]
        keep_in, keep_h = self.dropout_masks(n)
        if self.decoder == "softmax":
            tags = batch.tags[batch.mask] if batch.mask is not None else batch.tags
            return (tags, keep_in, keep_h, *ids)
        mask = batch.mask
        b, t = mask.shape
        if int(mask.sum()) != n:
            raise ModelError(f"{n} windows for a mask with {int(mask.sum())} tokens")
        t_pad = padded_length(t) if pad else t
        full = np.zeros((b, t_pad), dtype=bool)
        full[:, :t] = mask
        tags = np.zeros((b, t_pad), dtype=np.int64)
        tags[:, :t] = np.where(mask, batch.tags, 0)
        index = np.full((b, t_pad), n, dtype=np.int64)
        index[full] = np.arange(n)
        return (tags, full, index, keep_in, keep_h, *ids)

    def loss_fn(self, *args: Any) -> Tensor:
        """The loss as a function of the arrays of :meth:`loss_args` (and the parameters):
        the mean cross-entropy (softmax), or the summed CRF NLL of the batch (crf; divide
        by the number of tokens for the per-token mean). It reads the arrays' values only
        through chainrule ops, so it can be compiled.
        """
        if self.decoder == "softmax":
            tags, keep_in, keep_h, *ids = args
            return F.cross_entropy(self.network(keep_in, keep_h, *ids), tags)
        tags, mask, index, keep_in, keep_h, *ids = args
        return self.crf_loss(self.emissions(self.network(keep_in, keep_h, *ids), index), tags, mask)

    @staticmethod
    def emissions(scores: Any, index: np.ndarray) -> Tensor:
        """Per-token rows ``(n, K)`` laid out as ``(B, T, K)`` by ``index`` (the value ``n``
        points at a zero row: padding)."""
        zero = np.zeros((1, scores.shape[1]), dtype=scores.dtype)
        return cr.concatenate([scores, zero], axis=0)[index]

    def crf_loss(self, emissions: Any, tags: Any, mask: Any) -> Tensor:
        """Summed CRF NLL of a padded batch with this model's transition scores."""
        start, trans, end = self.crf_params()
        return crf_nll(emissions, tags, mask, start, trans, end, reduction="sum")

    def compiled_loss(self) -> Any:
        """A compiled :meth:`loss_fn` (same arguments, same values, generated code).

        softmax: the whole loss is one compiled function (one trace per batch size).
        crf: the CRF's forward algorithm (a Python loop over time steps, hence hundreds of
        small ops per batch) is compiled, one trace per padded batch shape (use
        ``loss_args(batch, pad=True)``); the network runs eagerly, on the batch's real
        tokens: its few large ops gain little from compiling, and compiling it would need
        a trace per token count (or padded rows, which cost more than they save).
        """
        if self.decoder == "softmax":
            return cr.compile(self.loss_fn)
        crf = cr.compile(self.crf_loss, cache_size=64)

        def loss_fn(
            tags: Any, mask: Any, index: Any, keep_in: Any, keep_h: Any, *ids: Any
        ) -> Tensor:
            return crf(self.emissions(self.network(keep_in, keep_h, *ids), index), tags, mask)

        loss_fn.compiled = crf  # type: ignore[attr-defined]  # for cache_info()
        return loss_fn

    # ------------------------------------------------------------------ decoding
    def emission_scores(
        self, windows: Mapping[str, np.ndarray], chunk_size: int = 2048
    ) -> np.ndarray:
        """Tag scores ``(n, n_tags)`` of ``n`` windows as a NumPy array, without a graph.

        The network runs on ``chunk_size`` windows at a time: its intermediate arrays
        (``n × (2·window+1) × Σ dims`` embeddings, ``n × hidden`` activations) would
        otherwise be hundreds of bytes per token, gigabytes for a long input. Only the
        result, ``n_tags`` numbers per token, is kept whole.
        """
        n = next(iter(windows.values())).shape[0] if windows else 0
        out = np.empty((n, self.n_tags), dtype=self.out.weight.dtype)
        was_training = self.training
        self.eval()
        try:
            with cr.no_grad():
                for a in range(0, n, chunk_size):
                    part = {f: w[a : a + chunk_size] for f, w in windows.items()}
                    out[a : a + chunk_size] = self.scores(part).data
        finally:
            self.train(was_training)
        return out

    def decode(
        self,
        scores: np.ndarray,
        lengths: np.ndarray,
        constrained: bool = False,
        max_cells: int = 65536,
    ) -> list[np.ndarray]:
        """Best tag ids of each sentence from per-token ``scores`` laid out sentence after
        sentence (``lengths`` tokens each).

        Viterbi runs on padded batches of similar-length sentences holding at most
        ``max_cells`` tokens plus padding (one long sentence runs alone), so the memory of
        decoding is linear in the input and never ``batch × longest sentence``.
        """
        lengths = np.asarray(lengths, dtype=np.int64)
        if int(lengths.sum()) != scores.shape[0]:
            raise ModelError(
                f"{scores.shape[0]} score rows for sentences of {int(lengths.sum())} tokens"
            )
        if self.decoder == "softmax" and not (constrained and self._penalties is not None):
            return np.split(scores.argmax(axis=1), np.cumsum(lengths)[:-1])
        if self.decoder == "softmax":
            # log-softmax: one (n, K) copy, updated in place.
            logp = scores - scores.max(axis=1, keepdims=True)
            logp -= np.log(np.exp(logp).sum(axis=1, keepdims=True))
            start, trans, end = self._penalties
        else:
            logp = scores
            start, trans, end = (np.asarray(p.data) for p in self.crf_params())
        offsets = np.concatenate([[0], np.cumsum(lengths)])
        out: list[np.ndarray] = [np.empty(0, np.int64)] * len(lengths)
        order = np.argsort(lengths, kind="stable")
        i = 0
        while i < len(order):
            # Grow the batch while (sentences × longest) stays within max_cells.
            j = i + 1
            while j < len(order) and (j + 1 - i) * lengths[order[j]] <= max_cells:
                j += 1
            sel = order[i:j]
            t_max = int(lengths[sel].max())
            mask = np.arange(t_max)[None, :] < lengths[sel][:, None]
            padded = np.zeros((len(sel), t_max, logp.shape[1]), dtype=logp.dtype)
            for r, s in enumerate(sel):
                padded[r, : lengths[s]] = logp[offsets[s] : offsets[s + 1]]
            paths, _ = viterbi_decode(padded, mask, start, trans, end)
            for r, s in enumerate(sel):
                out[s] = paths[r, : lengths[s]]
            i = j
        return out

    def predict(
        self, corpus: EncodedCorpus, batch_size: int = 256, constrained: bool = False
    ) -> list[np.ndarray]:
        """Best tag ids of every sentence of ``corpus`` (a list of int arrays).

        ``constrained`` (softmax decoder): Viterbi over the log-probabilities with the
        forbidden transitions excluded, instead of each word's argmax. ``batch_size``
        bounds the sentences decoded together (the network itself runs on chunks of
        windows whatever the sentence lengths).
        """
        if batch_size < 1:
            raise ModelError(f"batch_size must be >= 1, got {batch_size}")
        scores = self.emission_scores(corpus.windows)
        lengths = corpus.lengths
        # Sentences of typical length: about batch_size of them per Viterbi batch.
        cells = batch_size * max(int(np.median(lengths)) if len(lengths) else 1, 1)
        return self.decode(scores, lengths, constrained, max_cells=max(cells, 1))

    # ------------------------------------------------------------------ description
    def extra_repr(self) -> str:
        return f"window={self.window}, activation={self.activation}, decoder={self.decoder}"


_LENGTHS = (4, 8, 12, 16, 24, 32, 48, 64, 96, 128)


def padded_length(t: int) -> int:
    """The padded time axis of a sentence batch whose longest sentence has ``t`` tokens:
    the first of 4, 8, 12, 16, 24, 32, 48, 64, 96, 128 that holds it (then multiples of
    64). Few lengths mean few traces (each costs about as much as a dozen batches); CoNLL
    batches are padded by 20 % on average, which costs the compiled CRF little."""
    for length in _LENGTHS:
        if t <= length:
            return length
    return -(-t // 64) * 64


def check_tables(model: WindowTagger, sizes: Mapping[str, int]) -> None:
    """Raise :class:`ModelError` when the model's tables do not fit vocabulary ``sizes``."""
    bad: list[str] = []
    for f in model.features:
        rows = model.table(f).shape[0]
        if sizes.get(f) != rows:
            bad.append(f"{f}: table has {rows} rows, vocabulary has {sizes.get(f)}")
    if bad:
        raise ModelError("the vocabulary does not match the model: " + "; ".join(bad))


def save_tagger(
    folder: str | os.PathLike,
    model: WindowTagger,
    extractor: FeatureExtractor,
    train_config: Mapping[str, Any] | None = None,
) -> dict[str, str]:
    """Write a model folder: ``model.ckpt`` (weights, :func:`chainrule.io.save`: npz + JSON,
    no pickle), ``vocab.json`` (vocabularies and tag set) and ``config.json`` (architecture,
    training settings and the SHA-256 of ``vocab.json``, which ties the two together).

    Returns the paths written, by role.
    """
    from chainrule.io import save

    from .._outputs import atomic_folder

    check_tables(model, {f: extractor.table_size(f) for f in model.features})
    folder = os.fspath(folder)
    vocab_text = json.dumps(extractor.to_dict(), ensure_ascii=False, sort_keys=True)
    config = {
        "format": _FORMAT,
        "version": 1,
        "architecture": model.arch,
        "train": dict(train_config or {}),
        "vocab_sha256": hashlib.sha256(vocab_text.encode("utf-8")).hexdigest(),
        "files": dict(MODEL_FILES),
    }
    # All three files or none: they carry each other's checksums, so a folder mixing a
    # new vocab.json with an old config.json (a full disk half-way) could not be loaded.
    with atomic_folder(folder, MODEL_FOLDER_FILES, "a model folder") as tmp:
        tmp_paths = {k: os.path.join(tmp, v) for k, v in MODEL_FILES.items()}
        with open(tmp_paths["vocab"], "w", encoding="utf-8") as f:
            f.write(vocab_text)
        save({"format": _FORMAT, "params": dict(model.state_dict())}, tmp_paths["weights"])
        with open(tmp_paths["config"], "w", encoding="utf-8") as f:
            json.dump(config, f, indent=2, sort_keys=True)
    return {k: os.path.join(folder, v) for k, v in MODEL_FILES.items()}


def _read_json(path: str, role: str, folder: str) -> tuple[dict, str]:
    if not os.path.isfile(path):
        raise ModelError(
            f"model folder {folder!r} has no {os.path.basename(path)} ({role}); "
            f"is this a folder written by `chainrule ner train --out`?"
        )
    with open(path, "rb") as f:
        raw = f.read()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise ModelError(
            f"{path}: not valid UTF-8 (byte 0x{raw[e.start]:02x} at offset "
            f"{e.start}); the {role} file is damaged"
        ) from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as e:
        raise ModelError(f"{path}: not valid JSON ({e}); the {role} file is damaged") from None
    except RecursionError:  # "[[[[...": nested deeper than the parser's stack
        raise ModelError(f"{path}: JSON nested too deeply; the {role} file is damaged") from None
    if not isinstance(data, dict):
        raise ModelError(f"{path}: expected a JSON object ({role})")
    return data, text


def _is_int(value: Any) -> bool:
    # JSON true/false are bools, which Python counts as ints; 1e6 is a float.
    return isinstance(value, int) and not isinstance(value, bool)


def _check_architecture(arch: Any, where: str) -> dict[str, Any]:
    """Types and ranges of every setting of config.json's ``architecture``."""
    if not isinstance(arch, dict):
        raise ModelError(f"{where}: 'architecture' must be a JSON object")
    keys = (
        "features",
        "table_sizes",
        "dims",
        "window",
        "n_tags",
        "hidden",
        "activation",
        "dropout",
        "decoder",
        "constrained",
        "dtype",
    )
    missing = [k for k in keys if k not in arch]
    if missing:
        raise ModelError(f"{where}: incomplete architecture (missing {', '.join(missing)})")
    bad: list[str] = []
    feats = arch["features"]
    if (
        not isinstance(feats, list)
        or not feats
        or not all(isinstance(f, str) for f in feats)
        or len(set(feats)) != len(feats)
    ):
        raise ModelError(
            f"{where}: architecture.features must be a list of distinct names, got {feats!r}"
        )
    for key in ("table_sizes", "dims"):
        table = arch[key]
        if not isinstance(table, dict) or set(table) != set(feats):
            raise ModelError(f"{where}: architecture.{key} must give a size for each of {feats}")
        bad += [
            f"{key}.{f} = {table[f]!r} (expected an integer >= 1)"
            for f in feats
            if not (_is_int(table[f]) and table[f] >= 1)
        ]
    for key, low in (("window", 0), ("n_tags", 1), ("hidden", 0)):
        if not (_is_int(arch[key]) and arch[key] >= low):
            bad.append(f"{key} = {arch[key]!r} (expected an integer >= {low})")
    if arch["activation"] not in ACTIVATIONS:
        bad.append(f"activation = {arch['activation']!r} (expected one of {ACTIVATIONS})")
    if arch["decoder"] not in DECODERS:
        bad.append(f"decoder = {arch['decoder']!r} (expected one of {DECODERS})")
    d = arch["dropout"]
    if not (isinstance(d, int | float) and not isinstance(d, bool) and 0 <= d < 1):
        bad.append(f"dropout = {d!r} (expected a number in [0, 1))")
    if not isinstance(arch["constrained"], bool):
        bad.append(f"constrained = {arch['constrained']!r} (expected true or false)")
    if arch["dtype"] not in ("float32", "float64"):
        bad.append(f"dtype = {arch['dtype']!r} (expected 'float32' or 'float64')")
    if bad:
        raise ModelError(f"{where}: invalid architecture: " + "; ".join(bad))
    return arch


def _expected_shapes(arch: Mapping[str, Any]) -> dict[str, tuple[int, ...]]:
    """The shape of every parameter a :class:`WindowTagger` with ``arch`` has (no allocation)."""
    feats, width = arch["features"], 2 * arch["window"] + 1
    shapes = {f"emb_{f}.weight": (arch["table_sizes"][f], arch["dims"][f]) for f in feats}
    in_dim = width * sum(arch["dims"][f] for f in feats)
    k, h = arch["n_tags"], arch["hidden"]
    if h > 0:
        shapes.update({"hidden.weight": (h, in_dim), "hidden.bias": (h,)})
    shapes.update({"out.weight": (k, h if h > 0 else in_dim), "out.bias": (k,)})
    if arch["decoder"] == "crf":
        shapes.update({"trans": (k, k), "start": (k,), "end": (k,)})
    return shapes


def _check_shapes(arch: Mapping[str, Any], params: Any, where: str) -> None:
    if not isinstance(params, dict):
        raise ModelError(f"{where}: the checkpoint holds no parameter dictionary")
    expected = _expected_shapes(arch)
    problems = [f"missing {k}" for k in expected if k not in params]
    problems += [f"unexpected {k}" for k in params if k not in expected]
    for k, shape in expected.items():
        arr = params.get(k)
        if arr is None:
            continue
        if not isinstance(arr, np.ndarray) or arr.dtype.kind != "f":
            problems.append(f"{k} is not a floating-point array")
        elif arr.shape != shape:
            problems.append(f"{k} has shape {arr.shape}, config.json implies {shape}")
    if problems:
        raise ModelError(
            f"{where}: the weights do not fit config.json: "
            + "; ".join(problems[:6])
            + ("; ..." if len(problems) > 6 else "")
        )


def load_tagger(folder: str | os.PathLike) -> tuple[WindowTagger, FeatureExtractor, dict]:
    """Load a folder written by :func:`save_tagger`: ``(model, extractor, config)``.

    Every file is checked before the weights are used: a missing file, a vocabulary that
    is not the one the model was trained with (checksum), tables whose sizes do not match
    the vocabulary, or weights that do not fit the architecture raise :class:`ModelError`
    naming the problem.
    """
    from chainrule.io import CheckpointError, StateDictMismatchError, load

    from .features import FeatureError
    from .tags import TagSchemeError

    folder = os.fspath(folder)
    if not os.path.isdir(folder):
        raise ModelError(f"model folder {folder!r} does not exist")
    paths = {k: os.path.join(folder, v) for k, v in MODEL_FILES.items()}
    config, _ = _read_json(paths["config"], "configuration", folder)
    if config.get("format") != _FORMAT or config.get("version") != 1:
        raise ModelError(
            f"{paths['config']}: not a chainrule NER model configuration "
            f"(format {config.get('format')!r}, version {config.get('version')!r})"
        )
    vocab, vocab_text = _read_json(paths["vocab"], "vocabulary", folder)
    digest = hashlib.sha256(vocab_text.encode("utf-8")).hexdigest()
    if digest != config.get("vocab_sha256"):
        raise ModelError(
            f"{paths['vocab']} does not belong to this model: its checksum differs "
            f"from the one recorded in config.json (the vocabulary was changed or "
            f"copied from another model). Retrain, or restore the original file."
        )
    try:
        extractor = FeatureExtractor.from_dict(vocab)
    except (FeatureError, TagSchemeError) as e:
        raise ModelError(f"{paths['vocab']}: {e}") from None
    # Every size in config.json is checked against the vocabulary and against the shapes of
    # the arrays actually stored in the checkpoint *before* anything is allocated: a
    # tampered "hidden": 1e6 would otherwise allocate gigabytes before failing.
    arch = _check_architecture(config.get("architecture"), paths["config"])
    feats = arch["features"]  # JSON objects are unordered: the order is kept here
    if tuple(feats) != tuple(extractor.config.features):
        raise ModelError(
            f"config.json lists features {list(feats)} but vocab.json has "
            f"{list(extractor.config.features)}"
        )
    if arch["n_tags"] != len(extractor.tagset) or arch["window"] != extractor.config.window:
        raise ModelError(
            "config.json and vocab.json disagree on the number of tags or the window size"
        )
    bad = [
        f"{f}: table has {arch['table_sizes'][f]} rows, vocabulary has {extractor.table_size(f)}"
        for f in feats
        if arch["table_sizes"][f] != extractor.table_size(f)
    ]
    if bad:
        raise ModelError("the vocabulary does not match the model: " + "; ".join(bad))
    if not os.path.isfile(paths["weights"]):
        raise ModelError(f"model folder {folder!r} has no {MODEL_FILES['weights']} (weights)")
    try:
        state = load(paths["weights"])
    except CheckpointError as e:
        raise ModelError(f"{paths['weights']}: {e}") from None
    params = state.get("params") if isinstance(state, dict) else None
    _check_shapes(arch, params, paths["weights"])
    constraints = extractor.tagset.transition_mask() if arch["constrained"] else None
    model = WindowTagger(
        {f: arch["table_sizes"][f] for f in feats},
        {f: arch["dims"][f] for f in feats},
        arch["window"],
        arch["n_tags"],
        arch["hidden"],
        arch["activation"],
        arch["dropout"],
        arch["decoder"],
        constraints=constraints,
        dtype=arch["dtype"],
    )
    try:
        model.load_state_dict(params)
    except (CheckpointError, KeyError, TypeError, ChainruleError) as e:
        msg = e.message if isinstance(e, StateDictMismatchError) else str(e)
        raise ModelError(f"{paths['weights']}: the weights do not fit this model: {msg}") from None
    model.eval()
    return model, extractor, config
