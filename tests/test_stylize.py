"""headstyle.stylize on a small random generator and tiny random SD-shaped guides (no network, no shipped weights)."""
import copy, json, math
from dataclasses import replace
import pytest
import torch
from diffusers import ControlNetModel
from headstyle.generator import TriPlaneGenerator, load_generator
from headstyle.guidance import Guide, ddim_scheduler
from headstyle.cameras import sample_cameras
from headstyle.stylize import *
from headstyle.trainer import *
from tiny_sd import make_tokenizer, make_components, small_generator, make_guides
from numerics import assert_same_update, one_step, rel_norm_diff, GRAD_RTOL


@pytest.fixture(scope='module')
def G(): return small_generator()

@pytest.fixture(scope='module')
def guides(tmp_path_factory): return make_guides(tmp_path_factory.mktemp('tok'))

def config(**kw):
    return StylizeConfig.preset('tiny', **{**dict(prompt='a marble statue', iterations=4, checkpoint_every=2, preview_every=2,
                                                  preview_samples=1, seed=5), **kw})

def weights(st): return [p.detach().clone() for p in st.G.parameters()]
def same(a, b): return len(a) == len(b) and all(torch.equal(x, y) for x, y in zip(a, b))

# ---- config -------------------------------------------------------------------------------------------------------

def test_presets_methods_and_json():
    p = StylizeConfig.preset('paper')
    assert (p.lr, p.batch, p.iterations, p.truncation_psi, p.truncation_cutoff) == (1e-4, 1, 10_000, 0.75, 14)
    assert (p.min_step, p.max_step, p.guidance_scale, p.grad_scale, p.tweedie_weight) == (35, 49, 7.5, 1000., 0.1)
    assert p.mirror_weights == (0.75, 0.25) and p.grid_before_sr and p.grid_every == 1 and p.method == 'full'
    t = StylizeConfig.preset('tiny', lr=3e-3)
    assert t.lr == 3e-3 and t.iterations == 300 and t.perceptual_weight == 0
    for m in METHODS:
        c = t.with_method(m)
        assert c.method == m and StylizeConfig.from_json(c.to_json()) == c
    assert t.with_method('sds').rule == 'sds' and not t.with_method('sds').single_control
    assert t.with_method('grid-after-sr').grid and not t.with_method('grid-after-sr').grid_before_sr
    assert replace(t, rule='sds').method == 'custom'
    with pytest.raises(ValueError, match='known presets: paper, tiny'): StylizeConfig.preset('huge')
    with pytest.raises(ValueError, match='sds, sds\\+controlnet, ld\\+controlnet, ld\\+controlnet\\+rank, grid-after-sr, full'):
        t.with_method('vsd')
    with pytest.raises(ValueError, match='unknown config fields: speed'): StylizeConfig.from_json('{"speed": 1}')
    for bad in (dict(iterations=0), dict(rule='x'), dict(batch=0), dict(min_step=45, max_step=40), dict(ldis_samples=1)):
        with pytest.raises(ValueError): StylizeConfig(**bad)

def test_size_matched_preset_follows_from_the_sizes():
    from headstyle.generator import GENERATOR_DIR
    from headstyle.panohead import panohead_config
    if not (GENERATOR_DIR / 'model.safetensors').exists(): pytest.skip('no shipped generator weights')
    render, paper, tile = load_generator().img_resolution, panohead_config()['img_resolution'], StylizeConfig().grid_tile
    assert (TINY_RENDER, PAPER_RENDER) == (render, paper) and PRESETS['tiny']['grid_tile'] is None   # the tiny grid tiles whole renders
    cells = lambda r, t: (2 * t) ** 2 / r ** 2        # the grid's latent cells per single-view latent cell (one VAE encodes both)
    assert (cells(paper, tile), cells(render, render)) == (1, 4)
    m = StylizeConfig.preset('tiny-authors-matched')
    assert m.grid_weight == AUTHORS_WEIGHTS['grid_weight'] * cells(paper, tile) / cells(render, render)
    assert math.isclose(m.tweedie_weight, AUTHORS_WEIGHTS['tweedie_weight'] * render ** 2 / paper ** 2, rel_tol=1e-12)   # a mean over pixels
    assert (m.grid_every, m.grid_tweedie_weight) == (AUTHORS_WEIGHTS['grid_every'], AUTHORS_WEIGHTS['grid_tweedie_weight'])
    rest = lambda d: {k: v for k, v in d.items() if k not in AUTHORS_WEIGHTS}
    assert rest(PRESETS['tiny-authors-matched']) == rest(PRESETS['tiny'])                 # only the balance differs
    assert size_matched_weights(paper, tile) == AUTHORS_WEIGHTS                           # at the paper's sizes: the authors' balance
    assert size_matched_weights(2 * render, render)['tweedie_weight'] == 4 * m.tweedie_weight

def test_preset_notes_cover_every_preset():
    assert set(PRESET_NOTES) == set(PRESETS) == {'paper', 'tiny', 'tiny-authors', 'tiny-authors-matched'}
    assert all(isinstance(v, str) and v.strip() and '\n' not in v for v in PRESET_NOTES.values())
    assert 'SDS' in PRESET_NOTES['tiny'] and '3000x' in PRESET_NOTES['tiny']
    with pytest.raises(ValueError, match='tiny-authors-matched'): StylizeConfig.preset('huge')

# ---- what is trained ----------------------------------------------------------------------------------------------

def test_trainable_set_counts(G):
    tp = trainable_parameters(G)
    named = dict(G.named_parameters())
    in_modules = [n for n in named if n.startswith(('backbone.synthesis.', 'superresolution.'))]
    biases = [n for n in in_modules if n.endswith('.bias')]
    assert biases and set(tp) == set(in_modules) - set(biases)
    n = lambda names: sum(named[k].numel() for k in names)
    assert n(tp) == n(in_modules) - n(biases)
    # by construction: const + per ModConv (affine weight + conv weight) in synthesis and SR
    convs = [m for k, m in G.named_modules() if k.startswith(('backbone.synthesis', 'superresolution')) and hasattr(m, 'affine')]
    assert n(tp) == G.backbone.synthesis.const.numel() + sum(m.affine.weight.numel() + m.weight.numel() for m in convs)
    H = freeze_for_stylization(copy.deepcopy(G))
    assert {k for k, p in H.named_parameters() if p.requires_grad} == set(tp)

def test_only_the_trainable_set_changes(G, guides):
    st = Stylizer(G, *guides, config(), perceptual=None)
    before = dict((k, p.detach().clone()) for k, p in st.G.named_parameters())
    for _ in range(2): st.step()
    for k, p in st.G.named_parameters():
        assert torch.equal(p, before[k]) != (k in st.params), k
    assert same(list(st.frozen.parameters()), list(G.parameters())) and same(list(G.parameters()), list(small_generator().parameters()))

# ---- the losses ---------------------------------------------------------------------------------------------------

def test_ldis_and_tweedie():
    T = torch.randn(4, 3, 2, 5, 5, generator=torch.Generator().manual_seed(0))
    assert ldis(T, T).item() == 0 and abs(ldis(3 * T, T).item() - 8) < 1e-4 and abs(ldis(T + 2, T).item()) < 1e-5
    with pytest.raises(ValueError, match='at least 2'): ldis(T[:1], T[:1])
    x = torch.zeros(1, 3, 2, 2)
    assert abs(tweedie_loss(x, torch.ones_like(x)).item() - 0.25) < 1e-7

def test_grid_before_sr_skips_super_resolution(G, guides):
    for before in (True, False):
        st = Stylizer(G, *guides, config(grid_before_sr=before))
        sum(st.grid_losses(st.sample_ws(1)).values()).backward()
        sr = [p.grad for k, p in st.params.items() if k.startswith('superresolution')]
        reached = any(g is not None and g.abs().sum() > 0 for g in sr)
        assert reached != before
        syn = [p.grad for k, p in st.params.items() if k.startswith('backbone.synthesis')]
        assert any(g is not None and g.abs().sum() > 0 for g in syn)

def test_guides_follow_the_method(G, guides):
    edge, depth = guides
    st = Stylizer(G, edge, depth, config())
    assert st.guide.controlnet is edge.controlnet and st.guide_grid.controlnet is depth.controlnet
    assert st.guide.config.prompt == 'a marble statue' and st.guide.config.rule == 'ld'
    sds = Stylizer(G, edge, config=config().with_method('sds'))
    assert sds.guide.controlnet is None and sds.guide_grid is None and sds.guide.config.rule == 'sds'
    assert set(sds.step()) == {'single', 'tweedie', 'ldis', 'total', 'skipped'}
    with pytest.raises(ValueError, match='guide_grid'): Stylizer(G, edge, None, config())
    bare = Guide(edge.tokenizer, edge.text_encoder, edge.vae, edge.unet)
    with pytest.raises(ValueError, match='single_control'): Stylizer(G, bare, depth, config())
    with pytest.warns(UserWarning, match='perceptual'): Stylizer(G, edge, depth, config(perceptual_weight=0.05))

def test_pluggable_perceptual_loss(G, guides):
    seen = []
    def perceptual(x, y): seen.append((x.shape, y.shape)); return (x - y).abs().mean((1, 2, 3))
    st = Stylizer(G, *guides, config(perceptual_weight=0.5), perceptual=perceptual)
    rec = st.step()
    assert 'perceptual' in rec and math.isfinite(rec['perceptual']) and seen[0][0] == seen[0][1] == (1, 3, 32, 32)

# ---- determinism, resume, failures -------------------------------------------------------------------------------

def test_same_seed_same_weights(G, guides):
    runs = []
    for seed in (5, 5, 6):
        st = Stylizer(G, *guides, config(seed=seed))
        for _ in range(3): st.step()
        runs.append(weights(st))
    assert same(runs[0], runs[1]) and not same(runs[0], runs[2])

def test_resume_gives_the_uninterrupted_weights(G, guides, tmp_path):
    straight = Stylizer(G, *guides, config())
    straight.run(progress=False)
    first = Stylizer(G, *guides, config(), out=tmp_path)
    first.run(iterations=2, progress=False)
    ck = tmp_path / 'checkpoints' / 'it000002'
    assert sorted(p.name for p in ck.iterdir()) == ['config.json', 'model.safetensors', 'state.safetensors', 'stylize.json']
    assert not list(ck.glob('.*'))                                      # no temporary files left behind
    resumed = Stylizer.resume(tmp_path, G, *guides)
    assert resumed.iteration == 2 and resumed.config == config() and resumed.out == tmp_path
    resumed.run(progress=False)
    assert same(weights(resumed), weights(straight))
    sa, sb = straight.opt.state_dict()['state'], resumed.opt.state_dict()['state']
    assert all(torch.equal(sa[i][k], sb[i][k]) for i in sa for k in sa[i])
    assert resumed.history == straight.history and 'grid_tweedie' in resumed.history[0]      # every key of every record
    assert same(list(load_generator(tmp_path / 'checkpoints' / 'it000004').parameters()), weights(straight))
    assert sorted(p.name for p in (tmp_path / 'previews').iterdir()) == ['it000002.png', 'it000004.png']
    meta = json.loads((tmp_path / 'checkpoints' / 'it000004' / 'stylize.json').read_text())
    assert meta['iteration'] == 4 and StylizeConfig(**meta['config']) == config()

def test_resume_refuses_bad_checkpoints(G, guides, tmp_path):
    st = Stylizer(G, *guides, config(), out=tmp_path)
    st.step(); ck = st.save()
    with pytest.raises(ValueError, match='different generator'): Stylizer.resume(ck, small_generator(seed=1), *guides)
    with pytest.raises(FileNotFoundError, match='no stylizer checkpoint'): Stylizer.resume(tmp_path / 'nothing', G, *guides)
    (ck / 'state.safetensors').write_bytes(b'not a safetensors file')
    with pytest.raises(ValueError, match='is damaged: state.safetensors does not match the checksum'): Stylizer.resume(ck, G, *guides)
    meta = json.loads((ck / 'stylize.json').read_text()); meta.pop('sha256')           # as written before checksums
    (ck / 'stylize.json').write_text(json.dumps(meta))
    with pytest.raises(ValueError, match='unreadable checkpoint'): Stylizer.resume(ck, G, *guides)
    (ck / 'stylize.json').write_text('{')
    with pytest.raises(ValueError, match='unreadable checkpoint config'): Stylizer.resume(ck, G, *guides)

def test_non_finite_step_is_skipped_and_counted(G, guides):
    st = Stylizer(G, *guides, config())
    st.step()
    calls = {'n': 0}
    def poison(module, inputs, output):
        calls['n'] += 1
        return output * float('nan')
    h = st.G.superresolution.register_forward_hook(poison)
    w0 = weights(st)
    rec = st.step(); h.remove()
    assert calls['n'] > 0 and rec['skipped'] and st.stats['skipped'] == 1 and st.iteration == 2
    assert same(weights(st), w0)
    assert not st.step()['skipped'] and st.stats['skipped'] == 1 and not same(weights(st), w0)
    # a finite loss whose gradient is not finite is skipped too
    p = next(iter(st.params.values()))
    h = p.register_hook(lambda g: g * float('inf'))
    w1 = weights(st)
    assert st.step()['skipped'] and st.stats['skipped'] == 2 and same(weights(st), w1)
    h.remove()

def test_keyboard_interrupt_checkpoints(G, guides, tmp_path):
    def stop(st):
        if st.iteration == 3: raise KeyboardInterrupt
    st = Stylizer(G, *guides, config(), out=tmp_path)
    with pytest.raises(Interrupted, match='stopped by SIGINT at iteration 3') as e: st.run(callbacks=[stop], progress=False)
    assert find_checkpoint(tmp_path).name == 'it000003' and e.value.checkpoint == find_checkpoint(tmp_path) and e.value.signum == 2
    resumed = Stylizer.resume(tmp_path, G, *guides)
    assert resumed.iteration == 3 and same(weights(resumed), weights(st))
    straight = Stylizer(G, *guides, config())
    straight.run(progress=False); resumed.run(progress=False)
    assert same(weights(resumed), weights(straight))

def test_run_rejects_bad_iterations(G, guides):
    with pytest.raises(ValueError, match='positive'): Stylizer(G, *guides, config()).run(iterations=0, progress=False)

def test_loss_grad_norms_measure_without_training(G, guides):
    st = Stylizer(G, *guides, config())
    w0, state = weights(st), st.rng.get_state()
    norms = st.loss_grad_norms(2)
    assert set(norms) == {'single', 'tweedie', 'grid', 'grid_tweedie', 'ldis'} and norms['single'] > 0 and norms['grid'] > 0
    assert same(w0, weights(st)) and torch.equal(state, st.rng.get_state())       # nothing trained, random state restored
    big = Stylizer(G, *guides, config(tweedie_weight=3000.)).loss_grad_norms(2)
    assert math.isclose(big['tweedie'], 10 * norms['tweedie'], rel_tol=1e-4)           # a loss weight scales its gradient

def test_tweedie_residual_splits_into_reconstruction_and_a_decoded_sds_step(G, guides):
    st = Stylizer(G, *guides, config())
    c = st.config
    x = st.render(st.sample_ws(2), sample_cameras(2, c.single_yaw, c.single_pitch, generator=st.rng))['image'].detach()
    out = st.guide(x, torch.rand(2, 3, *x.shape[-2:], generator=st.rng), step=torch.tensor([35, 45]), generator=st.rng)
    ab, u = out.abar.reshape(-1, 1, 1, 1), torch.finfo(torch.float32).eps
    gap, sds = out.latents.detach() - out.x0_latent, ((1 - ab) / ab).sqrt() * (out.eps_hat - out.noise)
    # float32: z_t, x0_hat, their difference and the right side each round by a few units of u times what they combine
    bound = 4 * u * (out.latents.abs() + out.x0_latent.abs() + (out.noisy.abs() + (1 - ab).sqrt() * (out.eps_hat.abs() + out.noise.abs())) / ab.sqrt())
    assert ((gap - sds).abs() <= bound).all()
    p, d0 = tweedie_parts(st.guide, x, out), st.guide.decode(out.latents.detach())
    assert torch.equal(p['residual'], (x - out.x0_image) / 2) and torch.equal(p['sds'], (d0 - out.x0_image) / 2)
    assert ((p['residual'] - p['reconstruction'] - p['sds']).abs() <= 2 * u * (x.abs() + d0.abs() + out.x0_image.abs())).all()

def test_term_gradients_add_up_to_the_update_and_train_nothing(G, guides):
    st, twin = Stylizer(G, *guides, config()), Stylizer(G, *guides, config())
    w0, state = weights(st), st.rng.get_state()
    g = st.term_gradients()
    assert set(g) == {'single', 'tweedie', 'grid', 'grid_tweedie', 'ldis'} and same(w0, weights(st)) and torch.equal(state, st.rng.get_state())
    _, applied, _ = one_step(twin)                                                      # what the first step applies, on the same draws
    total = torch.cat([applied[k].flatten() if k in applied else torch.zeros(p.numel()) for k, p in st.params.items()])
    assert rel_norm_diff(sum(g.values()), total) <= GRAD_RTOL

def test_grid_tweedie_is_its_own_term(G, guides):
    st = Stylizer(G, *guides, config())
    L = st.grid_losses(st.sample_ws(1))
    assert set(L) == {'grid', 'grid_tweedie'} and L['grid_tweedie'].item() > 0
    L['grid_tweedie'].backward()
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for k, p in st.params.items() if k.startswith('backbone.synthesis'))
    off = Stylizer(G, *guides, config(grid_tweedie_weight=0.))
    assert set(off.grid_losses(off.sample_ws(1))) == {'grid'}

def test_sigterm_stops_at_the_end_of_the_iteration(G, guides, tmp_path):
    import os, signal
    def term(st):
        if st.iteration == 1: os.kill(os.getpid(), signal.SIGTERM)
    st = Stylizer(G, *guides, config(), out=tmp_path)
    with pytest.raises(Interrupted, match='SIGTERM at iteration 1') as e: st.run(callbacks=[term], progress=False)
    assert e.value.signum == signal.SIGTERM and st.iteration == 1 and find_checkpoint(tmp_path).name == 'it000001'
    assert signal.getsignal(signal.SIGTERM) == signal.SIG_DFL                      # the handler is put back
    resumed = Stylizer.resume(tmp_path, G, *guides); resumed.run(progress=False)
    straight = Stylizer(G, *guides, config()); straight.run(progress=False)
    assert same(weights(resumed), weights(straight)) and resumed.history == straight.history

def test_checkpoints_by_iteration_number_and_unfinished_ones_skipped(G, guides, tmp_path):
    st = Stylizer(G, *guides, config(), out=tmp_path)
    st.step()
    for it in (999_999, 1_000_000): st.save(tmp_path / 'checkpoints' / f'it{it}')
    assert find_checkpoint(tmp_path).name == 'it1000000'
    assert [p.name for p in list_checkpoints(tmp_path)] == ['it999999', 'it1000000']
    (tmp_path / 'checkpoints' / 'it2000000').mkdir()                                  # unfinished: no files
    (tmp_path / 'checkpoints' / 'it3000000').mkdir(); (tmp_path / 'checkpoints' / 'it3000000' / 'stylize.json').write_text('{}')
    with pytest.warns(UserWarning, match='unfinished checkpoint .*it3000000'): assert find_checkpoint(tmp_path).name == 'it1000000'
    st.save(tmp_path / 'checkpoints' / 'it1000000')                                    # saving over a checkpoint replaces it
    assert sorted(p.name for p in (tmp_path / 'checkpoints').iterdir()) == ['it1000000', 'it2000000', 'it3000000', 'it999999']

def test_stale_temporaries_are_cleaned_and_live_ones_kept(tmp_path):
    ck = tmp_path / 'checkpoints'; ck.mkdir()
    dead = 2 ** 22 + 12345                                                               # above Linux's default pid_max
    (ck / f'.it000002.{dead}.tmp').mkdir(); (ck / f'.it000002.{dead}.tmp' / 'model.safetensors').write_bytes(b'half')
    (tmp_path / f'.metrics.json.{dead}.tmp').write_text('{')
    import os
    (ck / f'.it000004.{os.getpid()}.tmp').mkdir()                                        # this process's own: kept
    gone = clean_stale(tmp_path)
    assert sorted(p.name for p in gone) == sorted([f'.it000002.{dead}.tmp', f'.metrics.json.{dead}.tmp'])
    assert sorted(p.name for p in ck.iterdir()) == [f'.it000004.{os.getpid()}.tmp']

def test_config_fields_are_checked_before_any_model_loads():
    for bad, msg in [(dict(lr=float('nan')), 'lr must be a finite number'), (dict(iterations='ten'), 'iterations must be an integer'),
                     (dict(batch=1.5), 'batch must be an integer'), (dict(single_yaw=5), 'single_yaw must be'),
                     (dict(truncation_psi=float('nan')), 'truncation_psi must be a finite number'), (dict(prompt=''), 'prompt is empty'),
                     (dict(single_pitch=(0.5, -0.5)), 'single_pitch is a (low, high) range'), (dict(grad_scale=0.), 'grad_scale must be positive')]:
        with pytest.raises(ValueError, match=msg.replace('(', '\\(').replace(')', '\\)')): StylizeConfig(**bad)
    with pytest.raises(ValueError, match='iterations must be an integer'): StylizeConfig.from_json('{"iterations": "ten"}')
    with pytest.raises(ValueError, match='lr must be a finite number'): StylizeConfig.from_json('{"lr": NaN}')

def test_shared_planes_and_backward_per_view_give_the_same_update(G, guides):
    a, b = (Stylizer(G, *guides, config(backward_per_view=per)) for per in (False, True))
    ws = a.sample_ws(1)
    assert a.shared_planes(ws) is not None and b.shared_planes(ws) is None     # one backbone pass per iteration, or one per view
    a, b = (Stylizer(G, *guides, config(backward_per_view=per)) for per in (False, True))
    assert_same_update(a, b)      # a batched backbone pass and one per view: the same graph up to the order of float32 sums
    assert not same(weights(a), list(G.parameters()))

def test_keep_checkpoints_prunes_old_ones(G, guides, tmp_path):
    st = Stylizer(G, *guides, config(iterations=7, checkpoint_every=1, preview_every=0, keep_checkpoints=2, keep_every=3), out=tmp_path)
    st.run(progress=False)
    assert [p.name for p in list_checkpoints(tmp_path)] == ['it000003', 'it000006', 'it000007']
    assert prune_checkpoints(tmp_path, None) == [] and prune_checkpoints(tmp_path, 1)[0].name == 'it000003'

def test_generators_that_draw_from_the_global_rng_resume_exactly(guides, tmp_path):
    class Jittery(type(small_generator())):                        # draws from torch's global RNG, as PanoHead's ray jitter does
        def synthesis(self, ws, c, **kw):
            out = super().synthesis(ws, c, **kw)
            return dict(out, image_raw=out['image_raw'] + 0.05 * torch.randn_like(out['image_raw']))
    H = small_generator(); H.__class__ = Jittery
    straight = Stylizer(H, *guides, config()); straight.run(progress=False)
    first = Stylizer(H, *guides, config(), out=tmp_path); first.run(iterations=2, progress=False)
    torch.manual_seed(1234); torch.rand(7)                          # whatever the global RNG did in between
    resumed = Stylizer.resume(tmp_path, H, *guides); resumed.run(progress=False)
    assert same(weights(resumed), weights(straight))
    state = torch.get_rng_state(); Stylizer(H, *guides, config()).step()
    assert torch.equal(state, torch.get_rng_state())                # the global RNG is left as it was

def test_sds_baselines_are_methods(G, guides):
    c = config().with_method('stylegan-fusion')
    assert c.method == 'stylegan-fusion' and (c.guidance_scale, c.grad_scale, c.sds_weighting) == (100., 100., 'one_minus_abar')
    assert not (c.mirror or c.single_control or c.grid or c.tweedie_weight or c.ldis_weight)
    st = Stylizer(G, guides[0], config=c)
    ts = torch.cat([st.guide.sample_steps(64, torch.Generator().manual_seed(k))[1] for k in range(4)])
    assert ts.min() >= 10 and ts.max() <= 500 and ts.max() - ts.min() > 400          # t uniform in [10, 500] of 1000
    assert set(st.step()) == {'single', 'total', 'skipped'}
    d = config().with_method('diffusiongan3d')
    assert d.method == 'diffusiongan3d' and d.ldis_weight == 1 and d.rule == 'sds'
    assert set(Stylizer(G, guides[0], config=d).step()) == {'single', 'ldis', 'total', 'skipped'}

def test_generator_checkpointing_gives_the_same_update(G, guides):
    # checkpointing keeps views apart, as backward_per_view does: against that path it recomputes the same ops on the same
    # inputs with the same draws; against the default (tri-planes shared by the views) only the order of float32 sums moves
    for per in (True, False):
        a, b = Stylizer(G, *guides, config(backward_per_view=per)), Stylizer(G, *guides, config(checkpoint_generator=True))
        assert_same_update(a, b)

def test_decoding_only_inside_the_box_gives_the_same_update(G, guides):
    from headstyle.generator import sample_triplanes
    a, b = (Stylizer(G, *guides, config()) for _ in range(2))
    seen = {id(a): [], id(b): []}
    for st in (a, b):
        for g in (st.G, st.frozen): g.decoder.register_forward_hook(lambda m, i, o, k=id(st): seen[k].append(i[0].shape[:-1].numel()))
    for g in (b.G, b.frozen):       # the decoder at every sample of every ray, as before the box was skipped
        g.field = (lambda g: lambda planes: lambda x: g.decoder(sample_triplanes(planes, x), x))(g)
    assert_same_update(a, b)
    assert len(seen[id(a)]) == len(seen[id(b)]) and sum(seen[id(a)]) < 0.9 * sum(seen[id(b)])   # the same calls, fewer samples

def test_frozen_single_view_skips_super_resolution_without_an_edge_map(G, guides):
    for method, sr in (('sds', False), ('full', True)):       # the frozen SR image only feeds the edge ControlNet's Canny map
        st, seen = Stylizer(G, *guides, config().with_method(method)), []
        synth = st.frozen.synthesis
        st.frozen.synthesis = lambda ws, c, **kw: seen.append(kw.get('superresolution', True)) or synth(ws, c, **kw)
        st.single_view_losses(st.sample_ws(1))
        assert seen == [sr], (method, seen)

def test_render_samples_sets_the_training_renders_only(G, guides):
    st = Stylizer(G, *guides, config(render_samples=8))
    ws, cams = st.sample_ws(2), sample_cameras(2, (-1., 1.), (0., 0.2), generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        r, native = st.render(ws, cams)['image'], st.G.synthesis(ws, cams)['image']
        assert torch.equal(r, st.G.synthesis(ws, cams, n_samples=8)['image']) and not torch.allclose(r, native)
    assert Stylizer(G, *guides, config(render_samples=None)).sampling == {} and st.sampling == dict(n_samples=8)
    with pytest.raises(ValueError, match='render_samples must be None or >= 2'): config(render_samples=1)
