"""k-means: deterministic per seed, exact on well-separated clusters, honest inertia."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from essl.errors import ConfigError, EsslError
from essl.evaluation.units import unit_quality
from essl.targets.kmeans import KMeansConfig, assign, fit_kmeans, kmeans_plus_plus


def _blobs(k: int = 12, per: int = 300, d: int = 8, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    centers = rng.standard_normal((k, d)) * 50.0
    truth = np.repeat(np.arange(k), per)
    x = centers[truth] + rng.standard_normal((k * per, d))
    order = rng.permutation(len(x))
    return x[order].astype(np.float32), truth[order]


def test_well_separated_clusters_are_recovered_exactly() -> None:
    x, truth = _blobs()
    model = fit_kmeans(x, KMeansConfig(num_clusters=12, seed=3))
    q = unit_quality(truth, model.predict(x))
    assert (q.phone_purity, q.cluster_purity, q.pnmi) == pytest.approx((1.0, 1.0, 1.0))


def test_same_seed_gives_identical_centroids() -> None:
    x, _ = _blobs(k=20, per=100, seed=1)
    x += np.random.default_rng(5).standard_normal(x.shape).astype(np.float32) * 30
    cfg = KMeansConfig(num_clusters=16, seed=7, iterations=10)
    a, b = fit_kmeans(x, cfg), fit_kmeans(x, cfg)
    np.testing.assert_array_equal(a.centroids, b.centroids)
    assert a.inertia == b.inertia


def test_inertia_is_the_sum_of_squared_distances_to_nearest_centroid() -> None:
    x, _ = _blobs(k=5, per=50, d=3)
    model = fit_kmeans(x, KMeansConfig(num_clusters=5))
    d2 = ((x[:, None, :].astype(np.float64) - model.centroids[None]) ** 2).sum(-1)
    assert model.inertia == pytest.approx(d2.min(1).sum(), rel=1e-4)
    np.testing.assert_array_equal(assign(x, model.centroids, batch_size=7)[0], d2.argmin(1))
    assert model.num_frames == len(x) and model.num_clusters == 5


def test_lloyd_iterations_do_not_increase_inertia_over_the_init() -> None:
    x, _ = _blobs(k=30, per=40, d=6, seed=2)
    x += np.random.default_rng(0).standard_normal(x.shape).astype(np.float32) * 40
    init = fit_kmeans(x, KMeansConfig(num_clusters=20, iterations=0, seed=1))
    fitted = fit_kmeans(x, KMeansConfig(num_clusters=20, iterations=20, seed=1))
    assert fitted.inertia <= init.inertia


def test_kmeans_plus_plus_picks_distinct_data_points() -> None:
    x, _ = _blobs(k=6, per=20)
    c = kmeans_plus_plus(torch.from_numpy(x), 6, np.random.default_rng(0)).numpy()
    assert len({tuple(r) for r in c}) == 6
    assert all(any(np.array_equal(r, p) for p in x) for r in c)


def test_an_emptied_cluster_is_reseeded_with_the_farthest_frame() -> None:
    # k-means++ on a 2-frame init sample can only seed 2 distinct centroids: the third
    # starts empty and must be moved onto the farthest frame, giving the 3 true clusters.
    x = np.array([[0.0], [0.1], [10.0], [10.1], [20.0], [20.1]], np.float32)
    for seed in range(3):
        model = fit_kmeans(x, KMeansConfig(num_clusters=3, init_sample=2, seed=seed))
        np.testing.assert_allclose(np.sort(model.centroids[:, 0]), [0.05, 10.05, 20.05], atol=1e-4)
        assert model.inertia == pytest.approx(6 * 0.05**2, rel=1e-3)


def test_too_few_frames_bad_config_and_mismatched_dims_raise() -> None:
    with pytest.raises(EsslError, match="cannot make 10 clusters"):
        fit_kmeans(np.zeros((5, 2), np.float32), KMeansConfig(num_clusters=10))
    with pytest.raises(ConfigError, match="num_clusters"):
        KMeansConfig(num_clusters=0).validate()
    with pytest.raises(EsslError, match="D=3"):
        assign(np.zeros((4, 3), np.float32), np.zeros((2, 5), np.float32))
    with pytest.raises(EsslError, match="non-finite"):
        fit_kmeans(np.full((20, 2), np.nan, np.float32), KMeansConfig(num_clusters=2))
