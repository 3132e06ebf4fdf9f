import pytest
import torch

from aecourse import data, pca


@pytest.fixture(scope="module")
def mnist():
    return data.load_mnist("train")[0], data.load_mnist("test")[0]


def test_pca_sanity_figure_and_curve(mnist):
    x_train, x_test = mnist
    model = pca.fit_pca(x_train, max_components=100)
    curve = pca.pca_error_curve(model, x_test, [0, 1, 30, 100])
    assert curve[30] == pytest.approx(13.87, abs=0.01)
    assert curve[0] > curve[1] > curve[30] > curve[100]
    # The curve agrees with an explicit projection.
    x_hat = model.reconstruct(x_test, 30)
    direct = ((x_hat - x_test.reshape(10000, -1).double()) ** 2).sum(1).mean().item()
    assert direct == pytest.approx(curve[30], rel=1e-9)


def test_pca_matches_sklearn_on_small_data():
    from sklearn.decomposition import PCA as SkPCA

    g = torch.Generator().manual_seed(0)
    x = (torch.randn(200, 12, generator=g) @ torch.randn(12, 12, generator=g)).double()
    ours = pca.fit_pca(x, max_components=5)
    ref = SkPCA(n_components=5, svd_solver="full").fit(x.numpy())
    torch.testing.assert_close(ours.variances, torch.tensor(ref.explained_variance_, dtype=torch.float64))
    # Components agree up to sign.
    dots = (ours.components * torch.tensor(ref.components_, dtype=torch.float64)).sum(1).abs()
    torch.testing.assert_close(dots, torch.ones(5, dtype=torch.float64))
    codes = ours.encode(x, 5)
    torch.testing.assert_close(codes.abs(), torch.tensor(ref.transform(x.numpy())).abs(), rtol=1e-6, atol=1e-8)


def test_pca_needs_two_examples():
    with pytest.raises(ValueError, match="at least two examples"):
        pca.fit_pca(torch.zeros(1, 4))
