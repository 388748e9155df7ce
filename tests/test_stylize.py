"""headstyle.stylize on a small random generator and tiny random SD-shaped guides (no network, no shipped weights)."""
import copy, json, math
from dataclasses import replace
import pytest
import torch
from diffusers import ControlNetModel
from headstyle.generator import TriPlaneGenerator, load_generator
from headstyle.guidance import Guide, ddim_scheduler
from headstyle.stylize import *
from tiny_sd import make_tokenizer, make_components

torch.set_num_threads(1)   # tiny models: one thread is fastest, and pytest may share the cores

def small_generator(seed=0):
    torch.manual_seed(seed)
    G = TriPlaneGenerator(w_dim=32, channels=(32, 32, 32), plane_channels=8, features=8, sr_channels=8,
                          neural_rendering_resolution=16, n_samples=12)
    with torch.no_grad():                       # untrained style affines are zero: every w would give the same head
        for m in G.modules():
            if hasattr(m, 'affine'): m.affine.weight.normal_(0, 0.1)
    return G

@pytest.fixture(scope='module')
def G(): return small_generator()

@pytest.fixture(scope='module')
def guides(tmp_path_factory):
    tok = make_tokenizer(tmp_path_factory.mktemp('tok'))
    te, vae, unet, edge = make_components(tok, 'a')
    depth = copy.deepcopy(edge)
    with torch.no_grad():
        for q in depth.parameters(): q.add_(0.02 * torch.randn_like(q))
    return [Guide(tok, te, vae, unet, ddim_scheduler(), cn) for cn in (edge, depth)]

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
    assert [h['total'] for h in resumed.history] == [h['total'] for h in straight.history]
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
    with pytest.raises(KeyboardInterrupt): st.run(callbacks=[stop], progress=False)
    assert find_checkpoint(tmp_path).name == 'it000003'
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

def test_grid_tweedie_is_its_own_term(G, guides):
    st = Stylizer(G, *guides, config())
    L = st.grid_losses(st.sample_ws(1))
    assert set(L) == {'grid', 'grid_tweedie'} and L['grid_tweedie'].item() > 0
    L['grid_tweedie'].backward()
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for k, p in st.params.items() if k.startswith('backbone.synthesis'))
    off = Stylizer(G, *guides, config(grid_tweedie_weight=0.))
    assert set(off.grid_losses(off.sample_ws(1))) == {'grid'}
