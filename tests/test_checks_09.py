"""aecourse.checks for exercises 09: the reference answers pass, plausible mistakes are named."""

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from scipy.stats import rankdata

from aecourse import checks
from check_helpers import rejects

# ---------------------------------------------------------------- 9.1 reconstruction scores


def reconstruction_scores(model, x):
    was_training = model.training
    model.eval()
    with torch.no_grad():
        x_hat = model(x)
    model.train(was_training)
    return ((x_hat.flatten(1) - x.flatten(1)) ** 2).sum(dim=1)


def scores_with_try_finally(model, x):
    was_training = model.training
    try:
        model.eval()
        with torch.no_grad():
            return (model(x).reshape(len(x), -1) - x.reshape(len(x), -1)).pow(2).sum(1)
    finally:
        model.train(was_training)


def scores_inference_mode(model, x):
    was_training = model.training
    model.eval()
    with torch.inference_mode():
        out = F.mse_loss(model(x).flatten(1), x.flatten(1), reduction="none").sum(dim=1)
    model.train(was_training)
    return out.clone()


def scores_train_mode(model, x):
    with torch.no_grad():
        return ((model(x).flatten(1) - x.flatten(1)) ** 2).sum(dim=1)


def scores_left_in_eval(model, x):
    model.eval()
    with torch.no_grad():
        return ((model(x).flatten(1) - x.flatten(1)) ** 2).sum(dim=1)


def scores_with_grad(model, x):
    was_training = model.training
    model.eval()
    out = ((model(x).flatten(1) - x.flatten(1)) ** 2).sum(dim=1)
    model.train(was_training)
    return out


def scores_detached_but_grad_on(model, x):
    return scores_with_grad(model, x).detach()


def scores_mean_over_pixels(model, x):
    return reconstruction_scores(model, x) / 784


def scores_rmse(model, x):
    return reconstruction_scores(model, x).sqrt()


def scores_abs(model, x):
    was_training = model.training
    model.eval()
    with torch.no_grad():
        out = (model(x).flatten(1) - x.flatten(1)).abs().sum(dim=1)
    model.train(was_training)
    return out


def scores_bce(model, x):
    was_training = model.training
    model.eval()
    with torch.no_grad():
        out = F.binary_cross_entropy(model(x).flatten(1), x.flatten(1), reduction="none").sum(dim=1)
    model.train(was_training)
    return out


def scores_summed_over_batch(model, x):
    return reconstruction_scores(model, x).sum()


def scores_per_pixel(model, x):
    was_training = model.training
    model.eval()
    with torch.no_grad():
        out = (model(x).flatten(1) - x.flatten(1)) ** 2
    model.train(was_training)
    return out


def scores_not_flattened(model, x):
    was_training = model.training
    model.eval()
    with torch.no_grad():
        out = ((model(x) - x) ** 2).sum(dim=1)
    model.train(was_training)
    return out


def scores_in_place(model, x):
    out = reconstruction_scores(model, x)
    x.clamp_(0.1, 0.9)
    return out


def scores_never_call_model(model, x):
    return (x.flatten(1) ** 2).sum(dim=1)


def test_reconstruction_scores_reference_passes(capsys):
    checks.check_reconstruction_scores(reconstruction_scores)
    checks.check_reconstruction_scores(scores_with_try_finally, seed=1, batch=3)
    checks.check_reconstruction_scores(scores_inference_mode, seed=2, batch=1)
    assert "✓ reconstruction_scores: squared error per image" in capsys.readouterr().out


@pytest.mark.parametrize("answer, fragment", [
    (scores_train_mode, "ran the model in training mode, so dropout"),
    (scores_left_in_eval, "left the model in eval mode; it was in training mode"),
    (scores_with_grad, "with gradients switched on: wrap the forward pass in torch.no_grad()"),
    (scores_detached_but_grad_on, "with gradients switched on"),
    (scores_mean_over_pixels, "averaged over the pixels"),
    (scores_rmse, "took a square root"),
    (scores_abs, "summed absolute errors"),
    (scores_bce, "computed the binary cross-entropy"),
    (scores_summed_over_batch, "returned one number; return one score per image"),
    (scores_per_pixel, "returned the error of every pixel, shape (N, 784)"),
    (scores_not_flattened, "raised RuntimeError"),
    (scores_in_place, "changed its input `x` in place"),
    (scores_never_call_model, "never called model(x)"),
])
def test_reconstruction_scores_mistakes_are_named(answer, fragment):
    rejects(checks.check_reconstruction_scores, answer, fragment)


def test_reconstruction_scores_stub_is_not_written_yet():
    def stub(model, x):
        raise NotImplementedError()

    rejects(checks.check_reconstruction_scores, stub, "not written yet")


def scores_on_the_cpu(model, x):
    was_training = model.training
    model.eval()
    with torch.no_grad():
        x_hat = model(x).flatten(1)
    model.train(was_training)
    total = torch.zeros(len(x))  # made on the CPU whatever x's device
    for j in range(x_hat.shape[1]):
        total = total + (x_hat[:, j] - x.flatten(1)[:, j]) ** 2
    return total


def scores_in_float64(model, x):
    was_training = model.training
    model.eval()
    with torch.no_grad():
        x_hat = model(x).double()
    model.train(was_training)
    return ((x_hat.flatten(1) - x.double().flatten(1)) ** 2).sum(dim=1).to(x.dtype)


def test_reconstruction_scores_device_and_float64():
    rejects(checks.check_reconstruction_scores, scores_on_the_cpu, "made a tensor on the CPU whatever")
    checks.check_reconstruction_scores(scores_in_float64)  # float64 maths, the input's dtype back: correct


# ---------------------------------------------------------------- 9.2 AUROC from scratch


def auroc(scores, is_anomaly):
    pos, neg = scores[is_anomaly], scores[~is_anomaly]
    wins = (pos[:, None] > neg[None, :]).double() + 0.5 * (pos[:, None] == neg[None, :]).double()
    return wins.mean().item()


def auroc_ranks(scores, is_anomaly):
    ranks = torch.from_numpy(rankdata(scores.numpy()))  # average ranks for ties
    n_pos = int(is_anomaly.sum())
    n_neg = len(scores) - n_pos
    return (ranks[is_anomaly].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg)


def auroc_numpy(scores, is_anomaly):
    s, y = scores.numpy(), is_anomaly.numpy()
    diff = s[y][:, None] - s[~y][None, :]
    return np.mean((diff > 0) + 0.5 * (diff == 0))


def auroc_inverted(scores, is_anomaly):
    return auroc(scores, ~is_anomaly)


def auroc_percent(scores, is_anomaly):
    return 100 * auroc(scores, is_anomaly)


def auroc_ties_ignored(scores, is_anomaly):
    pos, neg = scores[is_anomaly], scores[~is_anomaly]
    return (pos[:, None] > neg[None, :]).double().mean().item()


def auroc_ties_as_wins(scores, is_anomaly):
    pos, neg = scores[is_anomaly], scores[~is_anomaly]
    return (pos[:, None] >= neg[None, :]).double().mean().item()


def auroc_ordinal_ranks(scores, is_anomaly):
    order = torch.sort(scores, stable=True).indices
    ranks = torch.empty(len(scores), dtype=torch.float64)
    ranks[order] = torch.arange(1, len(scores) + 1, dtype=torch.float64)
    n_pos = int(is_anomaly.sum())
    return ((ranks[is_anomaly].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * (len(scores) - n_pos))).item()


def auroc_sorted_without_labels(scores, is_anomaly):
    scores = scores.sort().values  # the labels stay in their old order
    ranks = torch.arange(1, len(scores) + 1, dtype=torch.float64)
    n_pos = int(is_anomaly.sum())
    return ((ranks[is_anomaly].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * (len(scores) - n_pos))).item()


def auroc_sorted_pairs(scores, is_anomaly):
    pos, neg = scores[is_anomaly].sort().values, scores[~is_anomaly].sort().values
    m = min(len(pos), len(neg))
    return ((pos[:m] > neg[:m]).double() + 0.5 * (pos[:m] == neg[:m]).double()).mean().item()


def auroc_accuracy(scores, is_anomaly):
    return ((scores > scores.median()) == is_anomaly).double().mean().item()


def auroc_sklearn(scores, is_anomaly):
    from sklearn.metrics import roc_auc_score

    return roc_auc_score(is_anomaly.numpy(), scores.numpy())


def auroc_curve(scores, is_anomaly):
    return torch.tensor([0.0, 0.5, 1.0]), torch.tensor([0.0, 0.7, 1.0])


def test_auroc_reference_passes(capsys):
    checks.check_auroc(auroc)
    checks.check_auroc(auroc_ranks, seed=1, n=1000)
    checks.check_auroc(auroc_numpy, seed=2, n=50)
    assert "✓ auroc: equals sklearn.metrics.roc_auc_score" in capsys.readouterr().out


@pytest.mark.parametrize("answer, fragment", [
    (auroc_inverted, "inverted the classes"),
    (auroc_percent, "returned a percentage"),
    (auroc_ties_ignored, "ignored ties"),
    (auroc_ties_as_wins, "counted ties as a full win"),
    (auroc_ordinal_ranks, "ranked tied scores one after another"),
    (auroc_sorted_without_labels, "sorted the scores but not the labels with them"),
    (auroc_sorted_pairs, "compared the i-th anomaly with the i-th normal image only"),
    (auroc_accuracy, "this is the accuracy at one threshold, not the AUROC"),
    (auroc_sklearn, "calls roc_auc_score (under this or another name): the exercise is to compute the AUROC"),
    (auroc_curve, "returned a tuple of 2 items"),
])
def test_auroc_mistakes_are_named(answer, fragment):
    rejects(checks.check_auroc, answer, fragment)


from sklearn.metrics import roc_auc_score as ras  # noqa: E402  (a renamed import: still not from scratch)


def auroc_renamed_import(scores, is_anomaly):
    return float(ras(is_anomaly.numpy(), scores.numpy()))


def _helper_auc(scores, is_anomaly):
    return float(ras(is_anomaly.numpy(), scores.numpy()))


def auroc_through_a_helper(scores, is_anomaly):
    return _helper_auc(scores, is_anomaly)


def _make_closure():
    from scipy.stats import mannwhitneyu as mw

    def auroc_closure(scores, is_anomaly):
        u = mw(scores[is_anomaly].numpy(), scores[~is_anomaly].numpy()).statistic
        return float(u) / (int(is_anomaly.sum()) * int((~is_anomaly).sum()))
    return auroc_closure


def auroc_sort_based(scores, is_anomaly):
    """Correct: walk the sorted scores, one group of tied scores at a time (float64 inside)."""
    s = scores.double()
    n_pos, n_neg = int(is_anomaly.sum()), int((~is_anomaly).sum())
    total, negatives_below = 0.0, 0
    for value in torch.unique(s):  # ascending
        group = s == value
        pos_here, neg_here = int((group & is_anomaly).sum()), int((group & ~is_anomaly).sum())
        total += pos_here * (negatives_below + 0.5 * neg_here)
        negatives_below += neg_here
    return total / (n_pos * n_neg)


def test_auroc_banned_under_another_name_and_a_sort_based_answer(capsys):
    rejects(checks.check_auroc, auroc_renamed_import, "calls roc_auc_score (under this or another name)")
    rejects(checks.check_auroc, auroc_through_a_helper, "calls roc_auc_score")
    rejects(checks.check_auroc, _make_closure(), "calls mannwhitneyu")
    checks.check_auroc(auroc_sort_based, seed=3, n=200)
    assert "✓" in capsys.readouterr().out


def test_auroc_in_place_and_stub():
    def sorts_in_place(scores, is_anomaly):
        out = auroc(scores, is_anomaly)
        scores.copy_(scores.sort().values)
        return out

    def stub(scores, is_anomaly):
        raise NotImplementedError()

    rejects(checks.check_auroc, sorts_in_place, "changed its input `scores` in place")
    rejects(checks.check_auroc, stub, "not written yet")


# ---------------------------------------------------------------- 9.3 predict: what a detector of 8s scores lowest


@pytest.mark.parametrize("letter, fragment", [
    ("A", "The 8s, on which PCA was fitted, are not the lowest"),
    ("C", "A 3 shares most of its strokes with an 8"),
    ("D", "The 0s score highest of all"),
])
def test_prediction_wrong_letters_are_explained(letter, fragment):
    message = rejects(checks.check_lowest_scored_digit, letter, f"{letter} is not what happens", fragment)
    for other in "ABCD":  # only the chosen letter's explanation is shown
        if other != letter:
            assert checks.lesson09.LOWEST_SCORED[other] not in message


@pytest.mark.parametrize("answer", ["B", "b", " B\n", "b "])
def test_prediction_right_letter_in_any_case(answer, capsys):
    checks.check_lowest_scored_digit(answer)
    assert "✓ prediction_9_3: B is right. A squared error summed over pixels" in capsys.readouterr().out


@pytest.mark.parametrize("answer, fragment", [
    (None, "not written yet"), (..., "not written yet"), (1, "expected one letter as a string"),
    ("the 1s", "expected one letter as a string"), ("E", "expected one letter"), (["B"], "expected one letter"),
    ("AB", "expected one letter"),
])
def test_prediction_non_letters_are_rejected(answer, fragment):
    rejects(checks.check_lowest_scored_digit, answer, fragment)


# ---------------------------------------------------------------- 9.4 threshold for a target FPR


def threshold_for_fpr(normal_scores, target_fpr):
    s = normal_scores.sort().values  # ascending
    allowed = math.floor(target_fpr * len(s) + 1e-9)  # at most this many may lie strictly above t
    return s[len(s) - 1 - allowed].item()


def threshold_brute_force(normal_scores, target_fpr):
    candidates = normal_scores.unique()
    share = (normal_scores[None, :] > candidates[:, None]).double().mean(dim=1)
    return candidates[share <= target_fpr][0]


def threshold_numpy(normal_scores, target_fpr):
    s = np.sort(normal_scores.numpy())
    for t in s:
        if np.mean(s > t) <= target_fpr:
            return float(t)
    return float(s[-1])


def threshold_quantile_wrong_tail(normal_scores, target_fpr):
    return torch.quantile(normal_scores, target_fpr).item()


def threshold_interpolated(normal_scores, target_fpr):
    return torch.quantile(normal_scores, 1 - target_fpr).item()


def threshold_one_too_high(normal_scores, target_fpr):
    s = normal_scores.sort().values
    return s[int(len(s) * (1 - target_fpr))].item() if target_fpr > 0 else s[-1].item()


def threshold_greater_equal(normal_scores, target_fpr):
    candidates = normal_scores.unique()
    share = (normal_scores[None, :] >= candidates[:, None]).double().mean(dim=1)
    ok = candidates[share <= target_fpr]
    return ok[0].item() if len(ok) else candidates[-1].item() + 1


def threshold_one_too_low(normal_scores, target_fpr):
    s = normal_scores.sort().values
    candidates = s.unique()
    t = threshold_brute_force(normal_scores, target_fpr)
    i = int((candidates < t).sum())
    return candidates[max(i - 1, 0)].item()


def threshold_index(normal_scores, target_fpr):
    s = normal_scores.sort().values
    t = threshold_brute_force(normal_scores, target_fpr)
    return int((s < t).sum())


def threshold_max(normal_scores, target_fpr):
    return normal_scores.max().item()


def threshold_sorts_in_place(normal_scores, target_fpr):
    normal_scores.copy_(normal_scores.sort().values)
    return threshold_brute_force(normal_scores, target_fpr)


def test_threshold_reference_passes(capsys):
    checks.check_threshold_for_fpr(threshold_for_fpr)
    checks.check_threshold_for_fpr(threshold_brute_force, seed=1, n=100, target_fpr=0.05)
    checks.check_threshold_for_fpr(threshold_numpy, seed=2, n=1000, target_fpr=0.2)
    checks.check_threshold_for_fpr(threshold_for_fpr, seed=3, n=100, target_fpr=0.05)
    assert "✓ threshold_for_fpr: the smallest held-out score" in capsys.readouterr().out


@pytest.mark.parametrize("answer, fragment", [
    (threshold_quantile_wrong_tail, "took the quantile at target_fpr"),
    (threshold_interpolated, "t lies between two held-out scores"),
    (threshold_one_too_high, "t is one score too high"),
    (threshold_greater_equal, "t is one score too high"),
    (threshold_one_too_low, "t is one score too low"),
    (threshold_index, "returned the position of the threshold in the sorted scores"),
    (threshold_max, "t is higher than needed"),
    (threshold_sorts_in_place, "changed its input `normal_scores` in place"),
])
def test_threshold_mistakes_are_named(answer, fragment):
    rejects(checks.check_threshold_for_fpr, answer, fragment)


def test_threshold_stub_and_wrong_types():
    def stub(normal_scores, target_fpr):
        raise NotImplementedError()

    def many(normal_scores, target_fpr):
        return normal_scores[:3]

    def text(normal_scores, target_fpr):
        return "5.0"

    rejects(checks.check_threshold_for_fpr, stub, "not written yet")
    rejects(checks.check_threshold_for_fpr, many, "returned an array of shape (3,)")
    rejects(checks.check_threshold_for_fpr, text, "returned str")


# ---------------------------------------------------------------- 9.6 experiment: the smallest PCA code for retrieval
# The real check measures on 500 queries against 10,000 images; these tests use the first 100 queries against
# 1,000 images (same code, smaller sizes), and learners' answers are computed here independently.

SIZES = (100, 1_000)


@pytest.fixture()
def small_retrieval(monkeypatch):
    monkeypatch.setattr(checks.lesson09, "_retrieval_sizes", lambda: SIZES)
    from aecourse import load_mnist

    x_db, y_db = load_mnist("train")
    x_q, y_q = load_mnist("test")
    return x_q[:SIZES[0]].flatten(1), y_q[:SIZES[0]], x_db[:SIZES[1]].flatten(1), y_db[:SIZES[1]]


def _p10_torch(fq, fd, yq, yd):
    idx = torch.cdist(fq, fd).topk(10, largest=False).indices
    return (yd[idx] == yq[:, None]).float().mean().item()


def smallest_k_torch(xq, yq, xd, yd):
    from aecourse import fit_pca

    pca, target = fit_pca(xd, max_components=32), _p10_torch(xq, xd, yq, yd)
    return next(k for k in range(1, 33)
                if _p10_torch(pca.encode(xq, k).float(), pca.encode(xd, k).float(), yq, yd) >= target)


def smallest_k_sklearn(xq, yq, xd, yd):
    from sklearn.decomposition import PCA
    from sklearn.neighbors import NearestNeighbors

    def p10(fq, fd):
        idx = NearestNeighbors(n_neighbors=10).fit(fd).kneighbors(fq, return_distance=False)
        return np.mean(yd.numpy()[idx] == yq.numpy()[:, None])

    target = p10(xq.numpy(), xd.numpy())
    pca = PCA(n_components=32, svd_solver="full").fit(xd.numpy())
    cq, cd = pca.transform(xq.numpy()), pca.transform(xd.numpy())
    ks = [k for k in range(1, 33) if p10(cq[:, :k], cd[:, :k]) >= target]
    return np.int64(ks[0])


def smallest_k_eigh(xq, yq, xd, yd):
    """Correct: PCA from the eigenvectors of the covariance matrix (descending), distances by hand in float64."""
    a = xd.double()
    mean = a.mean(dim=0)
    _, vectors = torch.linalg.eigh((a - mean).T @ (a - mean))  # ascending eigenvalues
    basis = vectors.flip(1)[:, :32]  # (784, 32), the largest first
    cq, cd = (xq.double() - mean) @ basis, (a - mean) @ basis

    def p10(fq, fd):
        d = (fq**2).sum(1)[:, None] - 2 * fq @ fd.T + (fd**2).sum(1)[None, :]
        return (yd[d.argsort(dim=1)[:, :10]] == yq[:, None]).double().mean().item()

    target = p10(xq.double(), a)
    return torch.tensor(next(k for k in range(1, 33) if p10(cq[:, :k], cd[:, :k]) >= target))


def test_retrieval_correct_answers_pass(small_retrieval, capsys):
    found = [smallest_k_torch(*small_retrieval), smallest_k_sklearn(*small_retrieval),
             smallest_k_eigh(*small_retrieval)]
    for k in found + [float(found[0])]:
        checks.check_retrieval_code_size(k)
    out = capsys.readouterr().out
    assert out.count("✓ smallest_k: k = ") == 4 and "the check measured k = " in out and "` mode)" in out


def test_retrieval_wrong_answers_name_the_distance(small_retrieval):
    pixels, curve = checks.lesson09._retrieval_curve(*SIZES)
    k = next(j for j, p in enumerate(curve, 1) if p >= pixels)
    below = rejects(checks.check_retrieval_code_size, k - 3, f"with k = {k - 3} PCA's code retrieves with "
                    f"precision@10 {curve[k - 4]:.4f}, below the pixels' {pixels:.4f} by", "needs more components")
    assert "first 100 test images as queries against the first 1000 training images" in below
    rejects(checks.check_retrieval_code_size, 1, "below the pixels'")
    rejects(checks.check_retrieval_code_size, 32, f"k = 32 reaches the pixels' precision@10 {pixels:.4f}",
            "smaller code: k = ", "The task is the smallest k")
    rejects(checks.check_retrieval_code_size, k + 8, "but so does a smaller code")
    rejects(checks.check_retrieval_code_size, 784, "(no doubt), but so does a smaller code")
    rejects(checks.check_retrieval_code_size, 0, "a PCA code has between 1 and 784 components")
    rejects(checks.check_retrieval_code_size, 1000, "a PCA code has between 1 and 784 components")
    rejects(checks.check_retrieval_code_size, pixels, "set it to a whole number of principal components")
    rejects(checks.check_retrieval_code_size, 16.5, "set it to a whole number")
    rejects(checks.check_retrieval_code_size, str(k), "set it to a whole number")
    rejects(checks.check_retrieval_code_size, [k], "set it to a whole number")
    rejects(checks.check_retrieval_code_size, True, "set it to a whole number")
    rejects(checks.check_retrieval_code_size, torch.tensor([k, k + 1]), "is an array of shape (2,)")
    rejects(checks.check_retrieval_code_size, None, "not written yet")
