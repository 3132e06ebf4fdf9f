"""Checks for exercises 09 (applications): anomaly scores, AUROC from scratch, a prediction on what a detector
scores lowest, a threshold for a target FPR, and the smallest PCA code that retrieves as well as pixels."""

from __future__ import annotations

import functools
import inspect
import math
import numbers

import torch
import torch.nn.functional as F
from torch import nn

from .core import (
    Autoencoder,
    call,
    check_choice,
    check_device,
    diagnose,
    expect_tensor,
    fail,
    passed,
    require_answer,
    seeded,
)

__all__ = ["check_reconstruction_scores", "check_auroc", "check_lowest_scored_digit", "check_threshold_for_fpr",
           "check_retrieval_code_size"]  # what aecourse.checks exports from here

# ---------------------------------------------------------------- 9.1 reconstruction scores


class TinyAutoencoder(nn.Module):
    """Wrap a model and record, for each forward call, whether it ran in training mode and with gradients."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model, self.calls = model, []

    def forward(self, x):
        self.calls.append((self.training, torch.is_grad_enabled()))
        return self.model(x)


def _score_models(seed: int) -> list:
    """Return two small autoencoders with dropout: one outputs (N, 784), the other (N, 1, 28, 28)."""
    def make():
        flat = Autoencoder(nn.Sequential(nn.Flatten(), nn.Linear(784, 16), nn.ReLU(), nn.Dropout(0.5)),
                           nn.Sequential(nn.Linear(16, 784), nn.Sigmoid()))
        image = Autoencoder(nn.Sequential(nn.Flatten(), nn.Linear(784, 8), nn.ReLU(), nn.Dropout(0.5)),
                            nn.Sequential(nn.Linear(8, 784), nn.Sigmoid(), nn.Unflatten(1, (1, 28, 28))))
        return [("a model whose output is (N, 784)", flat), ("a model whose output is (N, 1, 28, 28)", image)]
    return seeded(seed, make)


def _score_case(name: str, fn, what: str, model: nn.Module, x: torch.Tensor, training: bool) -> None:
    spy = TinyAutoencoder(model).train(training)
    mode = "training" if training else "eval"
    where = f"on {what} and images (N, 1, 28, 28), the model in {mode} mode"
    raw = call(name, fn, model=spy, x=x)
    if not spy.calls:
        fail(name, "never called model(x): the score of an image is the error of the model's reconstruction of it")
    if any(was_training for was_training, _ in spy.calls):
        fail(name, "ran the model in training mode, so dropout (and batch norm, if any) changed its output: call "
                   "model.eval() before scoring, and model.train(was_training) afterwards")
    if spy.training != training:
        fail(name, f"left the model in {'training' if spy.training else 'eval'} mode; it was in {mode} mode before "
                   "the call. Save was_training = model.training, and end with model.train(was_training)")
    if any(grad for _, grad in spy.calls) or (isinstance(raw, torch.Tensor) and raw.requires_grad):
        fail(name, "computed the scores with gradients switched on: wrap the forward pass in torch.no_grad() "
                   "(scoring needs no backward pass, and gradients cost memory on 10,000 images)")
    n = len(x)
    out = expect_tensor(name, raw, (n,), {
        (): "returned one number; return one score per image, shape (N,): sum over the pixels only (dim=1)",
        (n, 784): "returned the error of every pixel, shape (N, 784); sum over the pixels of each image (dim=1)",
        (n, 1, 28, 28): "returned the error of every pixel, shape (N, 1, 28, 28); flatten each image "
                        "(.flatten(1)) and sum over its pixels",
    })
    model.eval()
    with torch.no_grad():
        x_hat, flat = model(x).flatten(1), x.flatten(1)  # (N, 784) each
    model.train(training)
    diff = x_hat - flat
    mistakes = [
        ("averaged over the pixels; the score sums the squared errors over the 784 pixels of each image",
         lambda: (diff**2).mean(dim=1)),
        ("took a square root (the Euclidean distance); the score is the squared error, summed over pixels",
         lambda: (diff**2).sum(dim=1).sqrt()),
        ("summed absolute errors; the score is the squared error, (x_hat - x) ** 2 summed over pixels",
         lambda: diff.abs().sum(dim=1)),
        ("computed the binary cross-entropy; this score is the squared error summed over pixels",
         lambda: F.binary_cross_entropy(x_hat, flat, reduction="none").sum(dim=1)),
        ("summed the errors before squaring them; square each pixel's error first, then sum",
         lambda: diff.sum(dim=1) ** 2),
    ]
    diagnose(name, out, (diff.double() ** 2).sum(dim=1), mistakes, where, rtol=1e-4, atol=1e-4)


def check_reconstruction_scores(fn, seed: int = 0, batch: int = 6) -> None:
    """Check reconstruction_scores(model, x): squared error per image, eval mode, no gradients, mode restored (lesson 09)."""
    name = getattr(fn, "__name__", "reconstruction_scores")
    x = torch.rand(batch, 1, 28, 28, generator=torch.Generator().manual_seed(seed))
    for what, model in _score_models(seed):
        for training in (True, False):
            _score_case(name, fn, what, model, x, training)
    check_device(name, fn, model=_score_models(seed)[0][1].eval(), x=x)
    passed(name, f"squared error per image, summed over pixels, in eval mode without gradients, the model's "
                 f"mode restored (batch {batch}, seed {seed})")


# ---------------------------------------------------------------- 9.2 AUROC from scratch

FORBIDDEN = ("roc_auc_score", "roc_curve", "mannwhitneyu")


def _as_number(name: str, out, what: str) -> float:
    """Return out as a float if it is a number or a one-element tensor/array; else fail saying what came."""
    if isinstance(out, torch.Tensor) or hasattr(out, "shape"):
        if tuple(out.shape) not in ((), (1,)):
            fail(name, f"returned an array of shape {tuple(out.shape)}; return {what}, one number")
        out = out.item()
    if isinstance(out, (tuple, list)):
        fail(name, f"returned a {type(out).__name__} of {len(out)} items; return {what}, one number")
    if isinstance(out, bool) or not isinstance(out, numbers.Real):
        fail(name, f"returned {type(out).__name__}; return {what}, one number")
    return float(out)


def _pair_auc(pos: torch.Tensor, neg: torch.Tensor, tie: float = 0.5) -> float:
    """Return mean over all (anomaly, normal) pairs of 1[s+ > s-] + tie * 1[s+ = s-]."""
    pos, neg = pos.double()[:, None], neg.double()[None, :]
    return float(((pos > neg).double() + tie * (pos == neg).double()).mean())


def _rank_auc(scores: torch.Tensor, labels: torch.Tensor, order: torch.Tensor) -> float:
    """Return the Mann-Whitney AUROC with ranks given by `order` (no tie averaging)."""
    ranks = torch.empty(len(scores), dtype=torch.float64)
    ranks[order] = torch.arange(1, len(scores) + 1, dtype=torch.float64)
    n_pos, n_neg = int(labels.sum()), int((~labels).sum())
    return float((ranks[labels].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def _zip_auc(pos: torch.Tensor, neg: torch.Tensor) -> float:
    """Return the AUROC-like share computed on position-matched pairs only (the first min(n+, n-) of each)."""
    m = min(len(pos), len(neg))
    a, b = pos[:m].double(), neg[:m].double()
    return float(((a > b).double() + 0.5 * (a == b).double()).mean())


def _accuracies(scores: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Return the accuracy of flagging s > t and s >= t, for every threshold t among the scores (and below all)."""
    s = scores.double()
    t = torch.cat([s.unique(), s.min()[None] - 1])
    correct_gt = ((s[None, :] > t[:, None]) == labels[None, :]).double().mean(dim=1)
    correct_ge = ((s[None, :] >= t[:, None]) == labels[None, :]).double().mean(dim=1)
    return torch.cat([correct_gt, correct_ge])


def _auroc_cases(seed: int, n: int) -> list:
    g = torch.Generator().manual_seed(seed)
    labels = torch.rand(n, generator=g) < 0.4
    continuous = torch.randn(n, generator=g) + 0.8 * labels
    tied = (torch.rand(n, generator=g) * 4 + 1.5 * labels).floor()  # a few levels: many ties
    small = (torch.tensor([0.1, 0.4, 0.35, 0.8, 0.7, 0.2]), torch.tensor([False, False, True, True, False, True]))
    return [(f"on random scores ({n} images, seed {seed})", continuous, labels),
            (f"on scores with many ties ({n} images, integers 0-5, seed {seed})", tied, labels),
            ("on 6 scores by hand, [0.1, 0.4, 0.35, 0.8, 0.7, 0.2] with anomalies at 2, 3 and 5", *small)]


def _auroc_case(name: str, fn, where: str, scores: torch.Tensor, labels: torch.Tensor) -> None:
    from sklearn.metrics import roc_auc_score  # the trusted reference, imported only when checking

    out = _as_number(name, call(name, fn, scores=scores, is_anomaly=labels), "the AUROC as a fraction in [0, 1]")
    ref = float(roc_auc_score(labels.numpy(), scores.numpy()))
    pos, neg = scores[labels], scores[~labels]
    stable = {"stable": True}
    mistakes = [
        ("inverted the classes: this is the probability that a normal image outscores an anomaly (1 − AUROC). "
         "The positive class is is_anomaly == True, and a higher score should mean 'more anomalous'",
         lambda: 1 - ref),
        ("returned a percentage; return the AUROC as a fraction in [0, 1] (the lesson multiplies by 100 to print)",
         lambda: 100 * ref),
        ("ignored ties: a pair with equal scores must count 1/2, not 0 (add 0.5 * (s_pos == s_neg))",
         lambda: _pair_auc(pos, neg, tie=0.0)),
        ("counted ties as a full win (>=): a pair with equal scores must count 1/2, not 1",
         lambda: _pair_auc(pos, neg, tie=1.0)),
        ("ranked tied scores one after another: tied scores must share the average of their ranks, which "
         "counts each tie as 1/2 (scipy.stats.rankdata does this, or compare all pairs)",
         lambda: _rank_auc(scores, labels, torch.sort(scores.double(), **stable).indices)),
        ("ranked tied scores one after another: tied scores must share the average of their ranks, which "
         "counts each tie as 1/2 (scipy.stats.rankdata does this, or compare all pairs)",
         lambda: _rank_auc(scores, labels, torch.sort(scores.double(), descending=True, **stable).indices.flip(0))),
        ("sorted the scores but not the labels with them, so each label no longer belongs to its score: "
         "sort once, order = scores.argsort(), and index both scores[order] and is_anomaly[order]",
         lambda: _rank_auc(scores, labels, torch.arange(len(scores)))),
        ("compared the i-th anomaly with the i-th normal image only (sorted or not): the AUROC compares "
         "every anomaly with every normal image, all n₊·n₋ pairs, e.g. pos[:, None] > neg[None, :]",
         lambda: _zip_auc(pos.sort().values, neg.sort().values)),
        ("compared the i-th anomaly with the i-th normal image only (sorted or not): the AUROC compares "
         "every anomaly with every normal image, all n₊·n₋ pairs, e.g. pos[:, None] > neg[None, :]",
         lambda: _zip_auc(pos, neg)),
    ]
    if math.isclose(out, ref, abs_tol=1e-6):
        return
    for message, make in mistakes:
        try:
            wrong = make()
        except Exception:
            continue
        if math.isclose(out, wrong, abs_tol=1e-6):
            fail(name, f"{message} (seen {where}: got {out:.4f}, expected {ref:.4f})")
    if (_accuracies(scores, labels) - out).abs().min() < 1e-9:
        fail(name, f"this is the accuracy at one threshold, not the AUROC (seen {where}: got {out:.4f}, expected "
                   f"{ref:.4f}). The AUROC needs no threshold: it is the share of (anomaly, normal) pairs in "
                   "which the anomaly scores higher, ties counting 1/2")
    if not math.isfinite(out):
        fail(name, f"returned {out} {where}")
    fail(name, f"wrong value {where}: got {out:.4f}, expected {ref:.4f} (scikit-learn's roc_auc_score)")


def _banned_calls(fn, depth: int = 2) -> list[str]:
    """Return the forbidden functions fn can reach by name: its globals, closure and nested code, renamed or not."""
    code = getattr(fn, "__code__", None)
    if code is None:
        return []
    names, stack = set(), [code]
    while stack:  # the function's own names and those of its inner functions and lambdas
        c = stack.pop()
        names |= set(c.co_names) | set(c.co_freevars)
        stack += [k for k in c.co_consts if inspect.iscode(k)]
    found = sorted(names & set(FORBIDDEN))
    scope = dict(getattr(fn, "__globals__", {}))
    for var, cell in zip(code.co_freevars, getattr(fn, "__closure__", None) or (), strict=False):
        try:
            scope[var] = cell.cell_contents
        except ValueError:  # an empty cell
            pass
    for var in names & set(scope):
        obj = scope[var]
        if getattr(obj, "__name__", None) in FORBIDDEN and callable(obj):
            found.append(obj.__name__)
        elif depth > 0 and inspect.isfunction(obj) and obj is not fn:
            found += _banned_calls(obj, depth - 1)  # a helper of the learner's that calls one
    return sorted(set(found))


def check_auroc(fn, seed: int = 0, n: int = 300) -> None:
    """Check auroc(scores, is_anomaly) against sklearn.metrics.roc_auc_score, ties included (lesson 09)."""
    name = getattr(fn, "__name__", "auroc")
    used = _banned_calls(fn)
    if used:
        fail(name, f"calls {used[0]} (under this or another name): the exercise is to compute the AUROC from "
                   "scratch (the check compares your value with scikit-learn's roc_auc_score)")
    for case in _auroc_cases(seed, n):
        _auroc_case(name, fn, *case)
    passed(name, f"equals sklearn.metrics.roc_auc_score on random, tied and hand-made scores ({n} images, seed {seed})")


# ---------------------------------------------------------------- 9.3 predict: what a detector of 8s scores lowest

LOWEST_SCORED = {
    "A": "The 8s, on which PCA was fitted, are not the lowest: their score is the ink that falls outside the "
         "32-dimensional subspace, and an 8 has a lot of ink, so even a good fit leaves a sizeable error.",
    "B": "A squared error summed over pixels can only be large where there is ink to get wrong, and a 1 has about "
         "half an 8's ink: the 1s score below the 8s themselves, so a threshold set on 8s lets them through.",
    "C": "A 3 shares most of its strokes with an 8, but it carries much more ink than a 1, and every misdrawn pixel "
         "adds to the sum: the 3s score well above the 8s, and far above the 1s.",
    "D": "The 0s score highest of all: the heaviest digit, and one an 8's subspace redraws badly. Ink, not "
         "shape alone, drives the score, so the lowest scores go to the digit with the least ink.",
}


def check_lowest_scored_digit(answer) -> None:
    """Check the prediction of 9.3: which test digit a PCA detector fitted on 8s scores lowest on average (lesson 09)."""
    check_choice("prediction_9_3", answer, "B", LOWEST_SCORED)


# ---------------------------------------------------------------- 9.4 threshold for a target false-positive rate


def _reference_threshold(scores: torch.Tensor, target_fpr: float) -> float:
    """Return the smallest score t with (scores > t).mean() <= target_fpr, by counting for every unique score."""
    s = scores.double()
    candidates = s.unique()  # ascending
    n_above = len(s) - torch.searchsorted(s.sort().values, candidates, right=True)  # strictly above each
    ok = n_above <= target_fpr * len(s) + 1e-9
    return float(candidates[ok][0])


def _threshold_cases(seed: int, n: int, target_fpr: float) -> list:
    g = torch.Generator().manual_seed(seed)
    continuous = torch.empty(n).exponential_(generator=g) * 20 + 5  # skewed, like reconstruction errors
    tied = (continuous / 10).round() * 10  # many equal scores, some at the threshold
    return [(f"on {n} held-out scores, target_fpr = {target_fpr} (seed {seed})", continuous, target_fpr),
            (f"on {n} held-out scores with many ties, target_fpr = {target_fpr} (seed {seed})", tied, target_fpr),
            (f"on 37 held-out scores, target_fpr = 0.1 (seed {seed})", continuous[:37], 0.1),
            (f"on {n} held-out scores, target_fpr = 0 (seed {seed})", continuous, 0.0)]


def _threshold_case(name: str, fn, where: str, scores: torch.Tensor, target_fpr: float) -> None:
    raw = call(name, fn, normal_scores=scores, target_fpr=target_fpr)
    t = _as_number(name, raw, "the threshold t")
    s = scores.double()
    ref = _reference_threshold(scores, target_fpr)
    above, at_or_above = float((s > t).double().mean()), float((s >= t).double().mean())
    if above <= target_fpr + 1e-9 and at_or_above > target_fpr + 1e-9:
        return
    unique = s.unique()
    i = int(torch.searchsorted(unique, torch.tensor(ref, dtype=torch.float64)))
    lower = float(unique[i - 1]) if i > 0 else None
    higher = float(unique[i + 1]) if i + 1 < len(unique) else None
    seen = f"(seen {where}: t = {t:.5g}, {above:.1%} of the scores above it; expected t = {ref:.5g})"
    quantiles = [float(torch.quantile(s, target_fpr, interpolation=m))
                 for m in ("linear", "lower", "higher", "nearest", "midpoint")]
    if isinstance(raw, numbers.Integral) and not isinstance(raw, bool) and raw == int(torch.searchsorted(
            s.sort().values, torch.tensor(ref, dtype=torch.float64))):
        fail(name, f"returned the position of the threshold in the sorted scores; return the score itself, "
                   f"sorted_scores[i] {seen}")
    if any(math.isclose(t, q, rel_tol=1e-6, abs_tol=1e-9) for q in quantiles) or (target_fpr < 0.5 and above > 0.5):
        fail(name, f"took the quantile at target_fpr: that leaves target_fpr of the scores BELOW t. A false-positive "
                   f"rate counts normal scores ABOVE t, so t sits near the (1 − target_fpr) quantile {seen}")
    if not bool((s == t).any()):
        fail(name, f"t lies between two held-out scores (interpolated, as torch.quantile's default does): "
                   f"return one of the scores, the smallest with at most target_fpr of them strictly above it {seen}")
    if higher is not None and t == higher:
        fail(name, f"t is one score too high: the next lower score also keeps the share strictly above it "
                   f"within target_fpr. Count scores strictly above t (>, not >=), and watch the index off by one "
                   f"(with rounding, int(n * (1 - target_fpr)) can land one past the threshold) {seen}")
    if lower is not None and t == lower:
        fail(name, f"t is one score too low: {above:.2%} of the scores lie strictly above it, more than target_fpr "
                   f"= {target_fpr}. Off by one: the threshold is the smallest score with at most target_fpr of "
                   f"the scores strictly above it {seen}")
    if above > target_fpr:
        fail(name, f"t is too low: more than target_fpr of the held-out scores lie strictly above it {seen}")
    fail(name, f"t is higher than needed: a lower held-out score also keeps the share above it within "
               f"target_fpr, and the threshold is the smallest such score {seen}")


def check_threshold_for_fpr(fn, seed: int = 0, n: int = 500, target_fpr: float = 0.05) -> None:
    """Check threshold_for_fpr(normal_scores, target_fpr) by behaviour: rate within target, and t minimal (lesson 09)."""
    name = getattr(fn, "__name__", "threshold_for_fpr")
    for case in _threshold_cases(seed, n, target_fpr):
        _threshold_case(name, fn, *case)
    passed(name, f"the smallest held-out score with at most target_fpr of the scores strictly above it, ties and "
                 f"target_fpr = 0 included ({n} scores, seed {seed})")


# ---------------------------------------------------------------- 9.6 experiment: a PCA code that retrieves like pixels

RETRIEVAL_TOLERANCE = 0.002  # precision@10 differences this small come from float32 against float64 distances


def _retrieval_sizes() -> tuple[int, int]:
    """Return (queries, database images) for the current mode: the first test and training images of MNIST."""
    from aecourse.config import pick

    return pick(smoke=(100, 1_000), standard=(500, 10_000), full=(500, 10_000))


def _precision_at_10(f_query: torch.Tensor, f_database: torch.Tensor, y_query, y_database) -> float:
    """Return the share of each query's 10 nearest database rows (Euclidean) with its label, averaged."""
    idx = torch.cdist(f_query.double(), f_database.double()).topk(10, largest=False).indices  # (Q, 10)
    return float((y_database[idx] == y_query[:, None]).double().mean())


@functools.lru_cache(maxsize=2)
def _retrieval_curve(n_query: int, n_database: int, k_max: int = 32) -> tuple[float, tuple[float, ...]]:
    """Return precision@10 of the pixels and of PCA codes k = 1..k_max, PCA fitted on the database images."""
    from aecourse.data import load_mnist

    x_database, y_database = load_mnist("train")
    x_query, y_query = load_mnist("test")
    x_database, y_database = x_database[:n_database].flatten(1), y_database[:n_database]
    x_query, y_query = x_query[:n_query].flatten(1), y_query[:n_query]
    pixels = _precision_at_10(x_query, x_database, y_query, y_database)
    a = x_database.double()
    mean = a.mean(dim=0)
    # PCA's top k_max directions: eigenvectors of the D x D scatter matrix (the same subspaces as an SVD, faster)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # one D x D eigenproblem: a second thread saves little, and waits long on a busy CPU
    try:
        _, vectors = torch.linalg.eigh((a - mean).T @ (a - mean))  # eigenvalues ascending
    finally:
        torch.set_num_threads(threads)
    basis = vectors[:, -k_max:].flip(1)  # (D, k_max), largest variance first
    c_query, c_database = (x_query.double() - mean) @ basis, (a - mean) @ basis  # float64 codes
    curve = tuple(_precision_at_10(c_query[:, :k], c_database[:, :k], y_query, y_database)
                  for k in range(1, k_max + 1))
    return pixels, curve


def check_retrieval_code_size(k) -> None:
    """Check 9.6: the smallest PCA code size k whose precision@10 reaches the pixels', measured here (lesson 09)."""
    name = "smallest_k"
    require_answer(name, k, "smallest_k to the code size you found")
    if isinstance(k, torch.Tensor) or hasattr(k, "shape"):
        if tuple(k.shape) not in ((), (1,)):
            fail(name, f"is an array of shape {tuple(k.shape)}; set it to one whole number, the code size")
        k = k.item()
    if isinstance(k, bool) or not isinstance(k, numbers.Real) or not float(k).is_integer():
        fail(name, f"is {k!r}; set it to a whole number of principal components, e.g. 10 (not a precision, "
                   "not a list)")
    k = int(k)
    n_query, n_database = _retrieval_sizes()
    from aecourse.config import get_mode

    pixels, curve = _retrieval_curve(n_query, n_database)
    where = (f"measured on the first {n_query} test images as queries against the first {n_database} training "
             f"images, `{get_mode()}` mode")
    if not 1 <= k <= 784:
        fail(name, f"is {k}; a PCA code has between 1 and 784 components")
    reached = [j for j, p in enumerate(curve, 1) if p >= pixels - RETRIEVAL_TOLERANCE]
    best = next(j for j, p in enumerate(curve, 1) if p >= pixels) if any(p >= pixels for p in curve) else reached[0]
    if k <= len(curve) and curve[k - 1] < pixels - RETRIEVAL_TOLERANCE:
        fail(name, f"with k = {k} PCA's code retrieves with precision@10 {curve[k - 1]:.4f}, below the pixels' "
                   f"{pixels:.4f} by {pixels - curve[k - 1]:.4f}: it needs more components ({where})")
    clearly = [j for j in range(1, min(k, len(curve) + 1)) if curve[j - 1] >= pixels + RETRIEVAL_TOLERANCE]
    if k > len(curve) and reached:
        clearly = clearly or reached
    if clearly:
        j = clearly[0]
        shown = f"it gives {curve[k - 1]:.4f}" if k <= len(curve) else "no doubt"
        fail(name, f"k = {k} reaches the pixels' precision@10 {pixels:.4f} ({shown}), but so does a smaller "
                   f"code: k = {j} gives {curve[j - 1]:.4f}, {k - j} components fewer. The task is the smallest k: "
                   f"try every k upwards and stop at the first that reaches it ({where})")
    passed(name, f"k = {k}: precision@10 {curve[k - 1]:.4f} against the pixels' {pixels:.4f}, with {784 / k:.0f} "
                 f"times fewer numbers per comparison; the check measured k = {best} as the smallest ({where})")
