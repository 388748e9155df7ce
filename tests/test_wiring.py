"""The trainer's wiring: what each view is rendered at, which render each control image and mask comes from, which
transform and weights reach the guide. Spy guides and spy generators record the inputs of one iteration's losses.
`tools/mutants.py` checks that each one-line wiring mistake in `headstyle/stylize.py` makes a test here fail."""
import math
import pytest
import torch
import torch.nn.functional as F
from headstyle.cameras import camera_angles, mirror_camera
from headstyle.guidance import Guide, canny, depth_control, rank_weight, to_grid
from headstyle.stylize import StylizeConfig
from headstyle.trainer import Stylizer
from tiny_sd import small_generator, make_guides


class SpyGuide(Guide):
    "A guide that records every query and loss call (and their inputs) in `self.calls`."
    def __call__(self, images=None, control=None, **kw):
        out = super().__call__(images, control, **kw)
        self.calls.append(dict(kind='query', images=images, control=control, out=out, **kw))
        return out
    def loss(self, out, mask=None, transform=None):
        self.calls.append(dict(kind='loss', out=out, mask=mask, transform=transform))
        return super().loss(out, mask, transform)
    def mirror_loss(self, out, mirror_latents, mask=None, weights=(0.75, 0.25), transform=None):
        self.calls.append(dict(kind='mirror_loss', out=out, mask=mask, weights=tuple(weights), transform=transform))
        return super().mirror_loss(out, mirror_latents, mask, weights, transform)

def spy_guide(g):
    if g is not None: g.__class__, g.calls = SpyGuide, []
    return g

def spy_synthesis(G):
    "Record (ws, c, output) of every `G.synthesis` call in `G.seen`."
    G.seen, orig = [], G.synthesis
    def synthesis(ws, c, *a, **kw):
        out = orig(ws, c, *a, **kw); G.seen.append((ws.detach().clone(), c.detach().clone(), out)); return out
    G.synthesis = synthesis
    return G

@pytest.fixture(scope='module')
def guides(tmp_path_factory): return make_guides(tmp_path_factory.mktemp('tok'))

def stylizer(guides, **kw):
    "A spied stylizer whose trainable generator renders clearly other heads than the frozen one."
    cfg = StylizeConfig.preset('tiny', **{**dict(prompt='a marble statue', seed=3, ldis_weight=0.), **kw})
    st = Stylizer(small_generator(), *guides, cfg)
    g = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for p in st.params.values(): p.add_(0.5 * p.std() * torch.randn(p.shape, generator=g))
    spy_guide(st.guide); spy_guide(st.guide_grid)
    spy_synthesis(st.G); spy_synthesis(st.frozen)
    return st

def calls(guide, kind): return [c for c in guide.calls if c['kind'] == kind]

# ---- single view ---------------------------------------------------------------------------------------------------

def test_mirror_view_is_rendered_at_the_mirrored_camera(guides):
    st = stylizer(guides, batch=2)
    st.single_view_losses(st.sample_ws(2))
    (ws, cams, r), = st.G.seen
    (_, cam, f), = st.frozen.seen
    assert cams.shape == (4, 25) and torch.equal(cams[:2], cam)
    assert torch.allclose(cams[2:], mirror_camera(cam), atol=1e-6) and not torch.allclose(cams[2:], cam, atol=1e-3)
    assert torch.equal(ws[:2], ws[2:])                                                # the same heads, mirrored

def test_mirror_weights_and_rank_transform_reach_the_guide(guides):
    st = stylizer(guides, mirror_weights=(0.75, 0.25))
    st.single_view_losses(st.sample_ws(1))
    (call,) = calls(st.guide, 'mirror_loss')
    assert call['weights'] == (0.75, 0.25)
    s = torch.randn(2, 4, 16, 16, generator=torch.Generator().manual_seed(1))
    assert call['transform'] is not None and torch.allclose(call['transform'](s), rank_weight(s, st.config.rank_weights))
    off = stylizer(guides, rank_weighting=False)
    off.single_view_losses(off.sample_ws(1))
    assert calls(off.guide, 'mirror_loss')[0]['transform'] is None

def test_single_view_mask_is_the_frozen_renders(guides):
    for mirror in (True, False):
        st = stylizer(guides, mirror=mirror)
        st.single_view_losses(st.sample_ws(1))
        (_, _, f), = st.frozen.seen
        (_, _, r), = st.G.seen
        (call,) = calls(st.guide, 'mirror_loss' if mirror else 'loss')
        assert call['mask'] is not None and torch.equal(call['mask'], f['image_mask']), mirror
        assert not torch.equal(f['image_mask'], r['image_mask'][:1])                  # the test can tell the two apart
    off = stylizer(guides, mask_grad=False)
    off.single_view_losses(off.sample_ws(1))
    assert calls(off.guide, 'mirror_loss')[0]['mask'] is None

def test_edge_control_comes_from_the_frozen_render(guides):
    st = stylizer(guides, canny_low=0.1, canny_high=0.3)         # the random heads have soft edges
    st.single_view_losses(st.sample_ws(1))
    (_, _, f), = st.frozen.seen
    (_, _, r), = st.G.seen
    (q,) = calls(st.guide, 'query')
    c = st.config
    expect = canny(f['image'], c.canny_low, c.canny_high)
    assert q['control'] is not None and torch.equal(q['control'], expect) and expect.any()
    assert not torch.equal(expect, canny(r['image'][:1], c.canny_low, c.canny_high))   # the test can tell the two apart
    sds = stylizer(guides, single_control=False)
    sds.single_view_losses(sds.sample_ws(1))
    assert calls(sds.guide, 'query')[0]['control'] is None

# ---- grid ----------------------------------------------------------------------------------------------------------

GRID = dict(grid_yaw=(2.0, 3.0), grid_pitch=(0.3, 0.4), single_yaw=(-0.5, 0.5), single_pitch=(-0.1, 0.1))

def test_grid_poses_come_from_the_grid_ranges_and_differ(guides):
    st = stylizer(guides, batch=2, **GRID)
    ws = st.sample_ws(2)
    st.grid_losses(ws)
    (w4, cams, _), = st.G.seen
    yaw, pitch = camera_angles(cams)
    assert cams.shape == (8, 25)
    assert ((yaw >= 2.0 - 1e-4) & (yaw <= 3.0 + 1e-4)).all(), yaw
    assert ((pitch >= 0.3 - 1e-4) & (pitch <= 0.4 + 1e-4)).all(), pitch
    for i in range(2):                                                                # four poses of one head
        assert all(torch.equal(w4[4 * i + k], ws[i]) for k in range(4))
        views = cams[4 * i:4 * i + 4]
        assert all(not torch.allclose(views[a], views[b]) for a in range(4) for b in range(a + 1, 4))
    (_, fcams, _), = st.frozen.seen
    assert torch.equal(fcams, cams)

def _up(x, tile): return F.interpolate(x, size=(tile, tile), mode='bilinear', align_corners=False)

def test_grid_depth_control_and_mask_come_from_the_frozen_renders(guides):
    st = stylizer(guides, **GRID)
    st.grid_losses(st.sample_ws(1))
    (_, _, f), = st.frozen.seen
    (_, _, r), = st.G.seen
    tile = st.config.grid_tile or st.G.img_resolution
    (q,) = calls(st.guide_grid, 'query')
    expect = to_grid(_up(depth_control(f['image_depth'], f['image_mask']), tile))
    assert q['control'] is not None and torch.equal(q['control'], expect)
    assert not torch.allclose(expect, to_grid(_up(depth_control(r['image_depth'], r['image_mask']), tile)), atol=1e-3)
    (call,) = calls(st.guide_grid, 'loss')
    assert call['mask'] is not None and torch.equal(call['mask'], to_grid(_up(f['image_mask'], tile)))
    assert not torch.equal(call['mask'], to_grid(_up(r['image_mask'], tile)))
    off = stylizer(guides, mask_grad=False, grid_control=False, **GRID)
    off.grid_losses(off.sample_ws(1))
    assert calls(off.guide_grid, 'loss')[0]['mask'] is None and calls(off.guide_grid, 'query')[0]['control'] is None

def test_the_mirror_view_is_rendered_from_the_trainable_tri_planes(guides):
    # only the mirrored view weighted, no other term: its gradient must reach the trainable backbone through its tri-planes
    st = stylizer(guides, mirror_weights=(0., 1.), tweedie_weight=0., grid=False, grid_control=False)
    ws = st.sample_ws(1)
    planes = st.shared_planes(ws)
    assert planes is not None                                   # the path where the views share one backbone pass
    st.single_view_losses(ws, planes)['single'].backward()
    backbone = [p.grad for k, p in st.params.items() if k.startswith('backbone.synthesis.')]
    assert any(g is not None and g.abs().sum() > 0 for g in backbone)
