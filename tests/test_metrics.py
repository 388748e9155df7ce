"""Metrics and judge measurements on known inputs."""
import pytest, torch
from headstyle.judges import frechet_distance, load_id_model, grid_consistency, sample_foreground
from headstyle.metrics import identity_similarity, identity_diversity, pairwise_distance
from headstyle.generator import mask_iou

torch.set_num_threads(1)

@pytest.fixture(scope='module')
def rec(): return load_id_model()

def test_frechet_distance_of_gaussians():
    g = torch.Generator().manual_seed(1)
    a, b = torch.randn(20000, 2, generator=g), torch.randn(20000, 2, generator=g) * 3
    assert abs(frechet_distance(a, b) - 2 * (1 + 9 - 2 * 3)) < 0.3        # per axis: 1 + 9 - 2 sqrt(9)
    assert abs(frechet_distance(a + 1, a) - 2) < 1e-6                      # a shift by (1, 1): |mu_a - mu_b|^2 = 2
    with pytest.raises(ValueError, match=r'\(N, D\) and \(M, D\)'): frechet_distance(a, b[:, :1])

def test_pairwise_distance():
    e = torch.eye(3)
    assert pairwise_distance(e).item() == pytest.approx(1.)
    assert pairwise_distance(e[[0, 0]]).item() == pytest.approx(0.)
    with pytest.raises(ValueError, match='at least 2'): pairwise_distance(e[:1])

def test_identity_metrics_on_world_renders(rec):
    from headstyle.world import random_latents, z_to_identity, render_heads
    from headstyle.cameras import camera_params
    ident = z_to_identity(random_latents(4, 3))
    cams = camera_params(torch.tensor([-0.5, 0.5]), 0.1)
    x = torch.stack([render_heads(ident, c.expand(4, -1))['image'] for c in cams])             # (2 views, 4 ids, 3, 64, 64)
    assert identity_similarity(rec, x, x).min() > 0.999
    shuffled = identity_similarity(rec, x, x[:, [1, 2, 3, 0]])
    assert shuffled.mean() < identity_similarity(rec, x[[0]], x[[1]]).mean() - 0.2            # other heads < same head, other yaw
    assert identity_diversity(rec, x[:, [0, 0, 0]]).max() < 1e-4 < identity_diversity(rec, x).min()
    with pytest.raises(ValueError, match='must pair up'): identity_similarity(rec, x, x[:, :2])

def test_grid_consistency_and_foreground_on_true_grids(rec):
    from headstyle.prior import render_prior_data
    d = render_prior_data(4, grid=True, seed=5)
    c = grid_consistency(rec, d.images)
    assert c['within'] > c['across'] + 0.2
    assert mask_iou(sample_foreground(d.images).float(), d.mask).mean() > 0.9
