"""headstyle.guidance on tiny random Stable-Diffusion-shaped components built from configs (no network)."""
import json, math
import pytest
import torch
from diffusers import StableDiffusionPipeline, StableDiffusionControlNetPipeline
from headstyle.guidance import *
from headstyle.toys import ToyHead, toy_scores, toy_flow
from headstyle.cameras import sample_cameras, mirror_camera, GRID_YAW, GRID_PITCH
from tiny_sd import make_tokenizer, make_components


@pytest.fixture(scope='module')
def tokenizer(tmp_path_factory): return make_tokenizer(tmp_path_factory.mktemp('tok'))

@pytest.fixture(scope='module', params=['a', 'b'])
def parts(request, tokenizer):
    te, vae, unet, cn = make_components(tokenizer, request.param)
    return dict(layout=request.param, tokenizer=tokenizer, text_encoder=te, vae=vae, unet=unet, controlnet=cn,
                factor=4 if request.param == 'a' else 8)

def make_guide(parts, control=True, **cfg):
    cfg = dict(dict(prompt='a marble statue', grad_scale=1.), **cfg)
    return Guide(parts['tokenizer'], parts['text_encoder'], parts['vae'], parts['unet'], ddim_scheduler(),
                 parts['controlnet'] if control else None, GuideConfig(**cfg))

def images_from(module, B=2, seed=0):
    x = torch.rand(B, 3, 64, 64, generator=torch.Generator().manual_seed(seed)) * 2 - 1
    return module(x).tanh()

def gen(seed): return torch.Generator().manual_seed(seed)

# ---- the guide ------------------------------------------------------------------------------------------------

def test_query_shapes_and_ranges(parts):
    guide = make_guide(parts)
    f = parts['factor']
    out = guide(images_from(torch.nn.Conv2d(3, 3, 3, padding=1)), torch.rand(2, 3, 64, 64), generator=gen(0))
    for k in ('latents', 'noisy', 'noise', 'eps_uncond', 'eps_cond', 'eps_hat', 'cfg', 'x0_latent'):
        assert getattr(out, k).shape == (2, 4, 64 // f, 64 // f), k
        assert torch.isfinite(getattr(out, k)).all(), k
    assert out.x0_image.shape == (2, 3, 64, 64)
    assert ((out.step >= 35) & (out.step <= 49)).all() and torch.equal(out.t, guide.timesteps[out.step])
    assert (out.t <= 281).all() and (out.t >= 1).all()
    torch.testing.assert_close(out.abar, guide.alphas_cumprod[out.t])
    torch.testing.assert_close(out.eps_hat, out.eps_uncond + out.cfg)
    torch.testing.assert_close(out.cfg, 7.5 * (out.eps_cond - out.eps_uncond))
    a = out.abar.view(-1, 1, 1, 1)
    torch.testing.assert_close(out.noisy, a.sqrt() * out.latents.detach() + (1 - a).sqrt() * out.noise)
    torch.testing.assert_close(out.x0_latent, (out.noisy - (1 - a).sqrt() * out.eps_hat) / a.sqrt())
    assert out.latents.requires_grad and not out.eps_hat.requires_grad

def test_tweedie_is_the_ddim_prediction(parts):
    guide = make_guide(parts, control=False)
    out = guide(images_from(torch.nn.Identity()), step=38, generator=gen(0))
    ddim = guide.scheduler.step(out.eps_hat, int(out.t[0]), out.noisy).pred_original_sample
    torch.testing.assert_close(out.x0_latent, ddim, atol=1e-4, rtol=1e-4)
    torch.testing.assert_close(out.x0_image, guide.decode(out.x0_latent).detach())

def test_latents_use_vae_scaling_factor(parts):
    guide = make_guide(parts, sample_posterior=False)
    x = images_from(torch.nn.Identity())
    z = parts['vae'].encode(x).latent_dist.mean * parts['vae'].config.scaling_factor
    torch.testing.assert_close(guide.encode(x), z)
    torch.testing.assert_close(guide.decode(z), parts['vae'].decode(z / parts['vae'].config.scaling_factor).sample)

def test_determinism_under_a_seed(parts):
    guide = make_guide(parts)
    x, ctrl = images_from(torch.nn.Identity()), torch.rand(2, 3, 64, 64, generator=gen(5))
    o1, o2, o3 = guide(x, ctrl, generator=gen(1)), guide(x, ctrl, generator=gen(1)), guide(x, ctrl, generator=gen(2))
    for k in ('latents', 'noise', 'step', 'eps_hat', 'x0_image'): assert torch.equal(getattr(o1, k), getattr(o2, k)), k
    assert not torch.equal(o1.noise, o3.noise)

def test_cfg_batched_call_equals_two_calls(parts):
    guide = make_guide(parts)
    ctrl = torch.rand(2, 3, 64, 64, generator=gen(3))
    out = guide(images_from(torch.nn.Identity()), ctrl, generator=gen(0), decode=False)
    emb, unc = guide.embed(['a marble statue'] * 2), guide.embed([''] * 2)
    with torch.no_grad():
        def single(e):
            down, mid = parts['controlnet'](out.noisy, out.t, encoder_hidden_states=e, controlnet_cond=ctrl, return_dict=False)
            return parts['unet'](out.noisy, out.t, encoder_hidden_states=e, down_block_additional_residuals=down,
                                 mid_block_additional_residual=mid).sample
        torch.testing.assert_close(out.eps_uncond, single(unc), atol=1e-4, rtol=1e-4)
        torch.testing.assert_close(out.eps_cond, single(emb), atol=1e-4, rtol=1e-4)

def test_without_controlnet_and_fixed_step(parts):
    guide = make_guide(parts, control=False)
    z = torch.randn(3, 4, 64 // parts['factor'], 64 // parts['factor'], generator=gen(0))
    out = guide(latents=z, step=40, generator=gen(0))
    assert (out.step == 40).all() and (out.t == guide.timesteps[40]).all()
    assert out.t[0].item() == 981 - 40 * 20

def test_controlnet_changes_the_prediction(parts):
    guide = make_guide(parts)
    z = torch.randn(1, 4, 64 // parts['factor'], 64 // parts['factor'], generator=gen(0))
    n = torch.randn(z.shape, generator=gen(1))
    a = guide(latents=z, control=torch.zeros(1, 3, 64, 64), step=40, noise=n, decode=False)
    b = guide(latents=z, control=torch.ones(1, 3, 64, 64), step=40, noise=n, decode=False)
    assert torch.equal(a.noisy, b.noisy) and not torch.allclose(a.eps_cond, b.eps_cond)
    with pytest.raises(ValueError, match='ControlNet'): guide(latents=z)

def test_from_pipeline(parts):
    kw = dict(vae=parts['vae'], text_encoder=parts['text_encoder'], tokenizer=parts['tokenizer'], unet=parts['unet'],
              scheduler=ddim_scheduler(), safety_checker=None, feature_extractor=None, requires_safety_checker=False)
    g1 = Guide.from_pipeline(StableDiffusionPipeline(**kw))
    assert g1.controlnet is None and g1.unet is parts['unet'] and g1.timesteps[35].item() == 281
    g2 = Guide.from_pipeline(StableDiffusionControlNetPipeline(controlnet=parts['controlnet'], **kw), GuideConfig(min_step=20))
    assert g2.controlnet is parts['controlnet'] and g2.config.min_step == 20

# ---- gradient rules, post-processing, injection ----------------------------------------------------------------

@pytest.mark.parametrize('rule', ['ld', 'sds', 'sds-authors'])
def test_gradients_reach_the_trainable_module(parts, rule):
    guide = make_guide(parts, rule=rule)
    maker = torch.nn.Conv2d(3, 3, 3, padding=1)
    out = guide(images_from(maker), torch.rand(2, 3, 64, 64), generator=gen(0), decode=False)
    guide.loss(out, mask=torch.ones(2, 1, 64, 64)).backward()
    for p in maker.parameters(): assert p.grad is not None and torch.isfinite(p.grad).all() and p.grad.abs().sum() > 0

def test_loss_puts_the_processed_gradient_on_the_latents(parts):
    guide = make_guide(parts, control=False, grad_scale=1000., grad_clamp=1e-3)
    z = torch.randn(2, 4, 64 // parts['factor'], 64 // parts['factor'], generator=gen(0)).requires_grad_()
    out = guide(latents=z, generator=gen(0), decode=False)
    mask = (torch.rand(2, 1, 64, 64, generator=gen(1)) > 0.5).float()
    guide.loss(out, mask).backward()
    lm = torch.nn.functional.interpolate(mask, size=z.shape[-2:], mode='area')
    expected = (ld_grad(out.cfg, out.abar) * lm / 1000.).clamp(-1e-3, 1e-3)
    torch.testing.assert_close(z.grad, expected)

def test_loss_with_a_transform(parts):
    guide = make_guide(parts, control=False, grad_scale=10.)
    z = torch.randn(2, 4, 64 // parts['factor'], 64 // parts['factor'], generator=gen(0)).requires_grad_()
    out = guide(latents=z, generator=gen(0), decode=False)
    guide.loss(out, transform=rank_weight).backward()
    torch.testing.assert_close(z.grad, clean_grad(rank_weight(ld_grad(out.cfg, out.abar)), scale=10.))
    assert not torch.allclose(z.grad, clean_grad(ld_grad(out.cfg, out.abar), scale=10.))

def test_rules_and_the_step_index_quirk(parts):
    z = torch.randn(2, 4, 8, 8, generator=gen(0))
    out = make_guide(parts, control=False)(latents=z, step=torch.tensor([35, 49]), generator=gen(0), decode=False)
    ac = make_guide(parts, control=False).alphas_cumprod
    ld = distill_grad(out, GuideConfig(), ac)
    torch.testing.assert_close(ld, out.cfg * ac[out.t].sqrt().view(-1, 1, 1, 1))
    quirk = distill_grad(out, GuideConfig(abar_index='step'), ac)
    torch.testing.assert_close(quirk, out.cfg * ac[out.step].sqrt().view(-1, 1, 1, 1))
    assert not torch.allclose(quirk[0], ld[0])
    for w in ('sqrt_one_minus_abar', 'one_minus_abar', 'one'):
        sds = distill_grad(out, GuideConfig(rule='sds', sds_weighting=w), ac)
        torch.testing.assert_close(sds, sds_weight(out.abar, w).view(-1, 1, 1, 1) * (out.eps_hat - out.noise))
        authors = distill_grad(out, GuideConfig(rule='sds-authors', sds_weighting=w), ac)
        torch.testing.assert_close(authors, sds_weight(out.abar, w).view(-1, 1, 1, 1) * (out.cfg - out.noise))
    assert not torch.allclose(authors, sds)

def test_authors_sds_by_hand():
    one = lambda v: torch.full((1, 1, 1, 1), v)
    eu, ec, n = one(0.1), one(0.3), one(0.5)
    out = GuideOutput(one(0.), one(0.), n, torch.tensor([40]), torch.tensor([181]), torch.tensor([0.64]),
                      eu, ec, eu + 7.5 * (ec - eu), 7.5 * (ec - eu), one(0.))
    ac = ddim_scheduler().alphas_cumprod
    # CFG direction 7.5 * (0.3 - 0.1) = 1.5, w = sqrt(1 - 0.64) = 0.6
    torch.testing.assert_close(distill_grad(out, GuideConfig(rule='sds-authors'), ac), one(0.6))    # 0.6 * (1.5 - 0.5)
    torch.testing.assert_close(distill_grad(out, GuideConfig(rule='sds'), ac), one(0.66))           # 0.6 * (0.1 + 1.5 - 0.5)
    torch.testing.assert_close(distill_grad(out, GuideConfig(rule='ld'), ac), one(1.2))             # 0.8 * 1.5

def test_config_validation():
    for bad in (dict(min_step=10, max_step=5), dict(max_step=50), dict(rule='vsd'), dict(abar_index='t'), dict(sds_weighting='x')):
        with pytest.raises(ValueError): GuideConfig(**bad)

def test_clean_grad_and_inject():
    g = torch.tensor([[[[2500., -10.], [float('nan'), -float('inf')]]]]).expand(1, 4, 2, 2)
    torch.testing.assert_close(clean_grad(g), torch.tensor([[[[1., -0.01], [0., 0.]]]]).expand(1, 4, 2, 2))
    z = torch.randn(2, 4, 6, 6, requires_grad=True)
    grad = torch.randn(2, 4, 6, 6, generator=gen(0))
    loss = inject(z, grad); loss.backward()
    z2 = z.detach().clone().requires_grad_()
    loss2 = 0.5 * ((z2 - (z2 - grad).detach()) ** 2).sum(); loss2.backward()
    # the second form rounds z - (z - g) element by element (U |z| each) before summing 288 squares (~144): a relative 1e-4
    # bounds that and the sum's own rounding (gamma_288 = 2e-5 relative), where the default 2e-4 is ~13 float32 steps of the loss
    torch.testing.assert_close(z.grad, grad); torch.testing.assert_close(z2.grad, z.grad); torch.testing.assert_close(loss, loss2, rtol=1e-4, atol=0)

def test_schedule():
    s = ddim_scheduler()
    ts = ddim_timesteps(s, 50)
    assert ts[35].item() == 281 and ts[49].item() == 1 and ts[0].item() == 981
    betas = torch.linspace(0.00085 ** 0.5, 0.012 ** 0.5, 1000, dtype=torch.float64) ** 2
    torch.testing.assert_close(abar(s.alphas_cumprod, ts), torch.cumprod(1 - betas, 0)[ts].float())

# ---- mirror, grid, control ----------------------------------------------------------------------------------------

def param_grads(model, c, grad):
    model.zero_grad()
    inject(model(c)['image'], grad).backward()
    return torch.cat([p.grad.flatten() for p in model.parameters()])

def test_mirror_identity_on_a_symmetric_renderer():
    c = sample_cameras(3, generator=gen(0))
    head = ToyHead()
    with torch.no_grad(): r, rm = head(c), head(mirror_camera(c))
    for k in r: torch.testing.assert_close(rm[k], r[k].flip(-1), atol=1e-4, rtol=0)
    G = torch.randn(3, 3, 64, 64, generator=gen(1))
    base, both = param_grads(head, c, G), param_grads(head, mirror_batch(c), mirror_grad(G))
    torch.testing.assert_close(both, base, atol=1e-3 * base.abs().max().item(), rtol=0)
    lop = ToyHead(symmetric=False)
    b, m = param_grads(lop, c, G), param_grads(lop, mirror_batch(c), mirror_grad(G))
    assert (m - b).norm() > 0.01 * b.norm()

def test_mirror_loss_through_the_guide(parts):
    guide = make_guide(parts, control=False)
    head = ToyHead()
    c = sample_cameras(2, generator=gen(0))
    latents = guide.encode(head(mirror_batch(c))['image'], gen(0))
    base, mirrored = split_mirror(latents)
    out = guide(latents=base, generator=gen(1), decode=False)
    latents.retain_grad()
    guide.mirror_loss(out, mirrored).backward()
    gb, gm = split_mirror(latents.grad)
    torch.testing.assert_close(gm, gb.flip(-1) / 3)
    for p in head.parameters(): assert torch.isfinite(p.grad).all() and p.grad.abs().sum() > 0

def test_grid_round_trip_and_guide(parts):
    v = torch.randn(8, 3, 4, 6, generator=gen(0))
    assert to_grid(v).shape == (2, 3, 8, 12) and torch.equal(from_grid(to_grid(v)), v)
    assert torch.equal(to_grid(v.reshape(2, 4, 3, 4, 6)), to_grid(v))
    head = ToyHead()
    c = sample_cameras(4, GRID_YAW, GRID_PITCH, generator=gen(1))
    r = head(c, resolution=16)
    grid = to_grid(grid_views(r, before_sr=True))
    assert grid.shape == (1, 3, 64, 64)
    control = to_grid(torch.nn.functional.interpolate(depth_control(r['image_depth'], r['image_mask']), size=32))
    guide = make_guide(parts)
    out = guide(grid, control, generator=gen(0), decode=False)
    guide.loss(out).backward()
    assert head.radii.grad is not None and torch.isfinite(head.radii.grad).all()
    after = to_grid(grid_views(r, before_sr=False))
    assert torch.equal(from_grid(after), r['image'])

def test_canny_and_depth_control():
    u = torch.linspace(-1, 1, 48)
    step = torch.where(u > 0, 1., -1.).expand(2, 3, 48, 48)
    e = canny(step)
    assert e.shape == (2, 3, 48, 48) and set(e.unique().tolist()) <= {0., 1.}
    assert (e[0, 0, 6:42].sum(1) == 1).all() and e[0, 0, :, :20].sum() == 0
    assert canny(torch.zeros(1, 3, 16, 16)).sum() == 0
    assert canny(step * 0.3, low=50, high=250).sum() == 0      # a weak step (0.3 of full range) stays under 250
    d = torch.rand(2, 1, 8, 8) + 1; m = (torch.rand(2, 1, 8, 8) > 0.3).float()
    dc = depth_control(d, m)
    assert dc.shape == (2, 3, 8, 8) and torch.isfinite(dc).all() and dc.min() >= 0 and dc.max() <= 1
    assert (dc[:, 0][m[:, 0] == 0] == 0).all()

def test_canny_follows_opencv():
    cv2 = pytest.importorskip('cv2')
    v, u = torch.meshgrid(torch.linspace(-1, 1, 64), torch.linspace(-1, 1, 64), indexing='ij')
    head = ((u / 0.6) ** 2 + (v / 0.8) ** 2 < 1).float() * 1.3 - 0.6
    for ex in (-0.25, 0.25): head = torch.where((u - ex) ** 2 + (v + 0.2) ** 2 < 0.01, torch.tensor(-0.8), head)
    smooth = gaussian_blur(torch.randn(1, 1, 64, 64, generator=gen(0)) * 3, 3.)[0, 0].clamp(-1, 1)
    for img in (head, smooth, (head + 0.1 * torch.randn(64, 64, generator=gen(1))).clamp(-1, 1)):
        g8 = ((img + 1) * 127.5).round().clamp(0, 255).to(torch.uint8)
        ours = canny((g8.float() / 127.5 - 1).expand(1, 3, 64, 64), 50, 250, sigma=0)[0, 0].bool()
        ref = torch.from_numpy(cv2.Canny(g8.numpy(), 50, 250, L2gradient=True) > 0)
        assert ref.sum() > 50
        assert (ours & ref).sum() >= 0.98 * (ours | ref).sum()

# ---- rank weighting -----------------------------------------------------------------------------------------------

def test_rank_weight_matches_svd_reference():
    g = gen(0)
    x = torch.randn(6, 4, 12, 12, generator=g) * torch.tensor([4., 1., .3, .05]).view(1, 4, 1, 1) + torch.randn(6, 4, 1, 1, generator=g)
    for ms in (True, False):
        torch.testing.assert_close(rank_weight(x, match_stats=ms), rank_weight_svd(x, match_stats=ms), atol=1e-4, rtol=1e-4)
    w = (1., .5, .2, .1)
    torch.testing.assert_close(rank_weight(x, w), rank_weight_svd(x, w), atol=1e-4, rtol=1e-4)

def test_rank_weight_degenerate_inputs():
    z = torch.zeros(2, 4, 8, 8)
    assert torch.equal(rank_weight(z), z)
    for r in (1, 2, 3):
        x = (torch.randn(2, 4, r, generator=gen(r)) @ torch.randn(2, r, 64, generator=gen(10 + r))).reshape(2, 4, 8, 8)
        y = rank_weight(x)
        assert torch.isfinite(y).all()
        torch.testing.assert_close(y, rank_weight_svd(x), atol=1e-4, rtol=1e-4)
    const = torch.ones(1, 4, 8, 8)
    assert torch.isfinite(rank_weight(const)).all()
    with pytest.raises(ValueError, match='one weight per channel'): rank_weight(torch.randn(1, 3, 4, 4))

def test_rank_weight_on_a_guide_score(parts):
    guide = make_guide(parts, control=False)
    out = guide(latents=torch.randn(2, 4, 64 // parts['factor'], 64 // parts['factor'], generator=gen(0)),
                generator=gen(0), decode=False)
    torch.testing.assert_close(rank_weight(out.cfg), rank_weight_svd(out.cfg), atol=1e-4, rtol=1e-4)

# ---- the 2-D picture -----------------------------------------------------------------------------------------------

def test_gaussian_flows():
    mus, s = torch.tensor([[-2., 0.], [2., 0.]]), 7.5
    x0 = mus[0] + 0.5 ** 0.5 * torch.randn(200, 2, generator=gen(0))
    def sds(x): c, m = toy_scores(x, mus); return m + s * (c - m)
    def ld(x): c, m = toy_scores(x, mus); return s * (c - m)
    a, b = toy_flow(x0, sds)[-1], toy_flow(x0, ld)[-1]
    assert (a.std(0) < 1e-3).all() and (a.mean(0) - mus[1]).norm() < 1e-2
    torch.testing.assert_close(b.std(0)[1], x0.std(0)[1])
    assert b.std(0)[0] < 1e-2 and (b[:, 0] > x0[:, 0].max() - 1).all()
    # the scores are those of the mixture: compare with autograd on the log density
    x = torch.randn(5, 2, generator=gen(1)).requires_grad_()
    logp = torch.logsumexp(-((x[:, None] - mus[None]) ** 2).sum(-1) / (2 * 0.5), -1).sum()
    torch.testing.assert_close(toy_scores(x.detach(), mus)[1], torch.autograd.grad(logp, x)[0])

def test_cfg_residual(parts):
    guide = make_guide(parts, control=False)
    x = images_from(torch.nn.Identity(), B=3)
    r = cfg_residual(guide, x, 'a marble statue', n_noise=2)
    assert set(r) == {'norm', 'shared'} and r['norm'] > 0 and 0 < r['shared'] <= 1 + 1e-6
    assert r == cfg_residual(guide, x, 'a marble statue', n_noise=2)                   # seeded
    d = torch.stack([(lambda o: o.eps_cond - o.eps_uncond)(guide(x, step=40, generator=gen(k), decode=False))
                     for k in range(2)]).mean(0).flatten(1)                            # noise-averaged push, per render
    assert math.isclose(r['norm'], d.norm(dim=1).mean().item(), rel_tol=1e-5)
    assert math.isclose(r['shared'], (d.mean(0).norm() / d.norm(dim=1).mean()).item(), rel_tol=1e-5)
    guide.config.guidance_scale = 0.                                                   # the raw eps_y - eps_0 does not depend on s
    assert math.isclose(cfg_residual(guide, x, 'a marble statue', n_noise=2)['norm'], r['norm'], rel_tol=1e-5)
    with pytest.raises(ValueError, match='at least 2'): cfg_residual(guide, x[:1], 'a marble statue')
