"""headstyle.panohead: the clean-room PanoHead against the official implementation (when HEADSTYLE_PANOHEAD_SRC points at a
checkout of SizheAn/PanoHead), and without it: shapes, determinism, folders, the restricted unpickler on crafted pickles,
and two Stylizer steps."""
import copy, importlib.util, json, os, pickle, subprocess, sys, textwrap, types
from unittest import mock
from pathlib import Path
import numpy as np
import pytest
import torch
from headstyle.cameras import camera_params
from headstyle.panohead import (PanoHeadGenerator, small_config, save_panohead, load_panohead, load_any_generator,
                                read_panohead_pickle, convert_panohead, panohead_config, random_panohead)

SRC = os.environ.get('HEADSTYLE_PANOHEAD_SRC')
TOL = 1e-4

def _half_rand(*size, **kw):
    "Stand-in for torch.rand: every uniform draw is 0.5."
    if len(size) == 1 and isinstance(size[0], (tuple, list, torch.Size)): size = tuple(size[0])
    return torch.full(size, 0.5, dtype=kw.get('dtype') or torch.float32, device=kw.get('device'))

@pytest.fixture
def pinned(monkeypatch):
    monkeypatch.setattr(torch, 'rand', _half_rand)
    monkeypatch.setattr(torch, 'rand_like', lambda t, **kw: torch.full_like(t, 0.5))

# ---------------------------------------------------------------------------------------------------------------------
# Against the official implementation

OFFICIAL = textwrap.dedent('''
    import sys, pickle, json, torch
    src, work = sys.argv[1], sys.argv[2]
    sys.path.insert(0, src)
    torch.set_num_threads(1)
    from training.triplane import TriPlaneGenerator
    cfg = json.load(open(work + '/config.json'))
    nrr, mode = cfg.pop('neural_rendering_resolution'), cfg.pop('mode')
    torch.manual_seed(cfg.pop('seed'))
    G = TriPlaneGenerator(**cfg).eval().requires_grad_(False)
    G.neural_rendering_resolution = nrr
    with torch.no_grad():            # random init leaves biases, noise strengths and w_avg at zero: make them count
        for n, p in list(G.named_parameters()) + list(G.named_buffers()):
            if 'resample_filter' not in n and p.abs().max() == 0: p.copy_(0.2 * torch.randn_like(p))
    with open(work + '/G.pkl', 'wb') as f: pickle.dump({'G_ema': G}, f)
    inp = torch.load(work + '/inputs.pt')
    half = lambda *s, **k: torch.full(tuple(s[0]) if len(s) == 1 and not isinstance(s[0], int) else s, 0.5,
                                      dtype=k.get('dtype') or torch.float32, device=k.get('device'))
    torch.rand, torch.rand_like = half, (lambda t, **k: torch.full_like(t, 0.5))
    if mode == 'train':
        G.train()
        torch.randn = lambda *s, **k: 0.3 * half(*s, **k) / 0.5
        torch.randn_like = lambda t, **k: torch.full_like(t, 0.3)
    noise = 'random' if mode == 'train' else 'const'
    out = {}
    with torch.no_grad():
        for i, (z, c) in enumerate(zip(inp['z'], inp['c'])):
            ws = G.mapping(z, c, truncation_psi=0.7, truncation_cutoff=4)
            planes = G.backbone.synthesis(ws, noise_mode=noise)
            r = G.synthesis(ws, c, noise_mode=noise)
            out[i] = dict(ws=ws, triplanes=planes.view(len(planes), 3, -1, *planes.shape[-2:]), **r)
    torch.save(out, work + '/official.pt')
''')

def _compare(tmp_path, cfg, n_cases, seed=0, batch=2, mode='eval'):
    "Build, pickle and run the official generator in a subprocess; load the pickle here and compare. Returns max abs diffs."
    assert importlib.util.find_spec('training') is None and importlib.util.find_spec('torch_utils') is None, \
        'the official modules must not be importable in the process that loads the pickle'
    g = torch.Generator().manual_seed(100 + seed)
    yaws = torch.tensor([0., 0.8, -1.4, 2.9, 3.14159])
    inp = dict(z=[torch.randn(batch, 512, generator=g) for _ in range(n_cases)],
               c=[camera_params(yaws[[i % 5, (i + 2) % 5]][:batch], torch.tensor([0.2, -0.3])[:batch]) for i in range(n_cases)])
    torch.save(inp, tmp_path/'inputs.pt')
    off_cfg = {k: v for k, v in cfg.items()}
    (tmp_path/'config.json').write_text(json.dumps(dict(off_cfg, seed=seed, mode=mode)))
    r = subprocess.run([sys.executable, '-c', OFFICIAL, SRC, str(tmp_path)], capture_output=True, text=True, timeout=1200,
                       env=dict(os.environ, OMP_NUM_THREADS='1'))
    assert r.returncode == 0, r.stderr[-3000:]
    official = torch.load(tmp_path/'official.pt')
    G = load_panohead(tmp_path/'G.pkl')
    noise = 'const'
    if mode == 'train': G.train(); noise = 'random'
    assert 'training' not in sys.modules and 'torch_utils' not in sys.modules
    diffs = {}
    pin_randn = lambda *s, **k: 0.3 * _half_rand(*s, **{a: v for a, v in k.items() if a != 'generator'}) / 0.5
    with torch.no_grad(), mock.patch.object(torch, 'randn', pin_randn if mode == 'train' else torch.randn):
        for i, (z, c) in enumerate(zip(inp['z'], inp['c'])):
            ws = G.mapping(z, c, truncation_psi=0.7, truncation_cutoff=4)
            ours = dict(ws=ws, **G.synthesis(ws, c, noise_mode=noise, return_triplanes=True))
            for k in ('ws', 'triplanes', 'image_raw', 'image_depth', 'image_mask', 'image'):
                a, b = ours[k], official[i][k]
                assert a.shape == b.shape, (k, a.shape, b.shape)
                assert torch.isfinite(a).all() and torch.isfinite(b).all() and b.std() > 1e-3, k   # values to compare, not NaN or constants
                diffs[k] = max(diffs.get(k, 0.), (a - b).abs().max().item())
        # the comparison can fail: a small change of one bias of the backbone moves every rendered output past the tolerance
        G.backbone.synthesis.b8.conv1.bias.add_(1e-2)
        z, c = inp['z'][0], inp['c'][0]
        r = G.synthesis(G.mapping(z, c, truncation_psi=0.7, truncation_cutoff=4), c, noise_mode=noise)
        for k in ('image_raw', 'image_depth', 'image_mask', 'image'): assert (r[k] - official[0][k]).abs().max() > TOL, k
    return diffs

needs_src = pytest.mark.skipif(not SRC, reason='set HEADSTYLE_PANOHEAD_SRC to a checkout of SizheAn/PanoHead')

def _report(name, diffs):
    print(f'\nmax abs diff ({name}): ' + ', '.join(f'{k} {v:.2e}' for k, v in diffs.items()))
    assert all(v <= TOL for v in diffs.values()), diffs

@needs_src
@pytest.mark.parametrize('background', [True, False])
@pytest.mark.parametrize('release', [True, False], ids=['torgb-raw', 'sigmoid'])
def test_matches_official_small(tmp_path, pinned, background, release):
    "Small widths: the release's raw ToRGB + linear decoder, and EG3D's sigmoid decoder; with and without the background."
    cfg = small_config(use_background=background, **({} if release else dict(use_torgb_raw=False, decoder_activation='sigmoid')))
    diffs = {}
    for seed in (0, 1):
        d = _compare(tmp_path, cfg, 2, seed)
        diffs = {k: max(v, diffs.get(k, 0.)) for k, v in d.items()}
    _report(f'small, release={release}, background={background}, 2 seeds x 2 camera pairs', diffs)

@needs_src
@pytest.mark.parametrize('sr', ['SuperresolutionHybrid4X', 'SuperresolutionHybrid8X', 'SuperresolutionHybrid8XDC'])
def test_matches_official_superresolution(tmp_path, pinned, sr):
    cfg = small_config(sr=sr, samples=8, neural_rendering_resolution=32 if sr.endswith('4X') else 64, triplane_size=64 if sr.endswith('DC') else 32)
    _report(sr, _compare(tmp_path, cfg, 1, seed=2))

@needs_src
def test_matches_official_training_mode(tmp_path, pinned):
    "Training mode (unfused modulated convolutions under 'inference_only'), noise_mode='random' and density noise, torch.randn pinned to 0.3."
    cfg = small_config()
    cfg['rendering_kwargs']['density_noise'] = 0.1
    _report('training mode, random noise, density noise', _compare(tmp_path, cfg, 2, seed=4, mode='train'))

@needs_src
def test_matches_official_full_size(tmp_path, pinned):
    "The released configuration at full width (512x512 output, 256^2 x 3 tri-grid, 48 + 48 samples at 64^2)."
    _report('full size', _compare(tmp_path, panohead_config(), 1, seed=3, batch=1))

# ---------------------------------------------------------------------------------------------------------------------
# Without the reference

@pytest.fixture(scope='module')
def G():
    torch.manual_seed(0)
    return PanoHeadGenerator(small_config(samples=8)).eval()

def _inputs(n=2, seed=0):
    z = torch.randn(n, 512, generator=torch.Generator().manual_seed(seed))
    return z, camera_params(torch.linspace(-1, 1, n), 0.1)

def test_shapes_and_names(G):
    z, c = _inputs()
    with torch.no_grad():
        ws = G.mapping(z, c, truncation_psi=0.7, truncation_cutoff=14)
        out = G.synthesis(ws, c, return_triplanes=True)
    assert ws.shape == (2, G.num_ws, 512)
    assert out['image'].shape == (2, 3, 128, 128) and out['image_raw'].shape == (2, 3, 32, 32)
    assert out['image_depth'].shape == out['image_mask'].shape == (2, 1, 32, 32) and out['triplanes'].shape == (2, 3, 96, 32, 32)
    d = out['image_depth']
    assert (d >= 2.25 - 1e-4).all() and (d <= 3.3 + 1e-4).all()
    names = {n.split('.')[0] for n, _ in G.named_parameters()}
    assert names == {'backbone', 'superresolution', 'decoder', 'bcg_synthesis', 't_mapping', 'torgb'}
    assert any(n.startswith('backbone.synthesis.b32.conv1.') for n, _ in G.named_parameters())
    assert torch.equal(G.triplanes(ws), out['triplanes'])

def test_determinism_and_background_switch(G):
    z, c = _inputs()
    gen = lambda s: torch.Generator().manual_seed(s)
    with torch.no_grad():
        ws = G.mapping(z, c)
        a = G.synthesis(ws, c, noise_mode='random', generator=gen(1))
        b = G.synthesis(ws, c, noise_mode='random', generator=gen(1))
        d = G.synthesis(ws, c, noise_mode='random', generator=gen(2))
        nb = G.synthesis(ws, c, background=False, generator=gen(1))
        wb = G.synthesis(ws, c, background=True, generator=gen(1))
    for k in ('image', 'image_raw', 'image_depth', 'image_mask'): assert torch.equal(a[k], b[k]), k
    assert (a['image'] - d['image']).abs().max() > 1e-4 and (a['image_depth'] - d['image_depth']).abs().max() > 1e-5
    assert torch.equal(nb['image_mask'], wb['image_mask']) and (nb['image_raw'] - wb['image_raw']).abs().max() > 1e-3

def test_backbone_defaults_to_const_noise(G):
    ws = G.mapping(*_inputs())
    with torch.no_grad(): assert torch.equal(G.backbone.synthesis(ws), G.backbone.synthesis(ws))   # LDIS compares two such calls

def test_load_any_generator_reads_toy_folders(tmp_path):
    from headstyle.generator import TriPlaneGenerator, save_generator
    save_generator(TriPlaneGenerator(channels=(16, 16, 16, 16, 16), w_dim=16, plane_channels=8, sr_channels=8), tmp_path/'toy')
    assert type(load_any_generator(tmp_path/'toy')) is TriPlaneGenerator

@pytest.mark.parametrize('preset', ['paper'])
def test_stylizer_paper_preset_step(G, tmp_path, preset):
    "One iteration of the paper preset (grid before SR, 256 tiles, LDIS, mirror) on the small PanoHead."
    from headstyle.stylize import StylizeConfig
    from headstyle.trainer import Stylizer
    from tiny_sd import make_guides
    edge, depth = make_guides(tmp_path/'tok')
    G = random_panohead(small_config(samples=8))      # random ToRGB weights scaled: the guides check the image range
    cfg = StylizeConfig.preset(preset, prompt='a marble statue', iterations=1, preview_samples=1, seed=5, perceptual_weight=0.)
    st = Stylizer(G, edge, depth, config=cfg, perceptual=None)
    before = {k: v.clone() for k, v in st.params.items()}
    st.step()
    assert any(not torch.equal(v, before[k]) for k, v in st.params.items())
    assert all(torch.isfinite(v).all() for v in st.params.values())

def test_random_panohead_stays_in_range():
    G = random_panohead(seed=3)
    z, c = _inputs(2, seed=1)
    with torch.no_grad(): out = G.synthesis(G.mapping(z, c, truncation_psi=0.75), c)
    for k in ('image', 'image_raw'): assert out[k].abs().max() < 1.25, (k, out[k].abs().max())
    assert torch.equal(random_panohead(seed=3).state_dict()['superresolution.block1.torgb.weight'], G.state_dict()['superresolution.block1.torgb.weight'])

def test_runs_on_the_meta_device():
    "Every tensor the generator makes follows its inputs' device (a CPU-made tensor would fail to mix with meta ones)."
    with torch.device('meta'): G = PanoHeadGenerator(small_config(samples=4)).eval()
    z, c = torch.randn(2, 512, device='meta'), torch.randn(2, 25, device='meta')
    out = G.synthesis(G.mapping(z, c, truncation_psi=0.7, truncation_cutoff=4), c, noise_mode='random', return_triplanes=True)
    assert all(v.is_meta for v in out.values()) and out['image'].shape == (2, 3, 128, 128)

def test_bf16_close_to_fp32(G):
    z, c = _inputs(1)
    Gb = copy.deepcopy(G).to(torch.bfloat16)
    with torch.no_grad():
        ws = G.mapping(z, c)
        a = G.synthesis(ws, c, generator=torch.Generator().manual_seed(0))
        b = Gb.synthesis(ws.bfloat16(), c, generator=torch.Generator().manual_seed(0))
    for k in ('image', 'image_raw', 'image_depth', 'image_mask'):
        assert b[k].dtype == torch.bfloat16 and (a[k] - b[k].float()).abs().max() < 0.05 * a[k].abs().max(), k

def test_folder_round_trip(G, tmp_path):
    save_panohead(G, tmp_path/'ph')
    cfg = json.loads((tmp_path/'ph'/'config.json').read_text())
    assert cfg['rendering_kwargs']['triplane_depth'] == 3
    H = load_any_generator(tmp_path/'ph')
    assert isinstance(H, PanoHeadGenerator)
    for (k, v), (k2, v2) in zip(G.state_dict().items(), H.state_dict().items()): assert k == k2 and torch.equal(v, v2)
    (tmp_path/'empty').mkdir()
    with pytest.raises(FileNotFoundError, match='no config.json'): load_any_generator(tmp_path/'empty')

def test_stylizer_steps(G, tmp_path):
    from headstyle.stylize import StylizeConfig
    from headstyle.trainer import Stylizer
    from headstyle.trainer import list_checkpoints
    from tiny_sd import make_guides
    edge, depth = make_guides(tmp_path/'tok')
    G = random_panohead(small_config(samples=8))      # random ToRGB weights scaled: the guides check the image range
    cfg = StylizeConfig.preset('tiny', prompt='a marble statue', iterations=2, preview_samples=1, seed=5, grid_every=1,
                               checkpoint_every=2, preview_every=2)
    st = Stylizer(G, edge, depth, config=cfg, perceptual=None, out=tmp_path/'run')
    before = {k: v.clone() for k, v in st.params.items()}
    st.run(progress=False)
    ck = list_checkpoints(tmp_path/'run')[-1]
    H = load_any_generator(ck)                     # a stylized checkpoint reloads as a PanoHeadGenerator
    assert isinstance(H, PanoHeadGenerator) and all(torch.equal(v, H.state_dict()[k]) for k, v in st.G.state_dict().items())
    moved = [k for k, v in st.params.items() if not torch.equal(v, before[k])]
    assert moved and all(k.startswith(('backbone.synthesis.', 'superresolution.')) for k in moved)
    assert all(torch.equal(p, q) for (n, p), (_, q) in zip(G.state_dict().items(), st.frozen.state_dict().items()))
    assert all(torch.isfinite(v).all() for v in st.params.values())

# ---------------------------------------------------------------------------------------------------------------------
# The restricted unpickler on crafted pickles

class _FakeModules:
    "Register stand-in modules named torch_utils.persistence and dnnlib.util while writing an official-layout pickle."
    def __enter__(self):
        self.mods = {n: types.ModuleType(n) for n in ('torch_utils', 'torch_utils.persistence', 'dnnlib', 'dnnlib.util')}
        def _reconstruct_persistent_obj(meta): raise AssertionError('never called when writing')
        _reconstruct_persistent_obj.__module__ = 'torch_utils.persistence'
        _reconstruct_persistent_obj.__qualname__ = '_reconstruct_persistent_obj'
        self.mods['torch_utils.persistence']._reconstruct_persistent_obj = _reconstruct_persistent_obj
        EasyDict = type('EasyDict', (dict,), {'__module__': 'dnnlib.util', '__qualname__': 'EasyDict'})
        self.mods['dnnlib.util'].EasyDict = EasyDict
        self.fn, self.EasyDict = _reconstruct_persistent_obj, EasyDict
        assert not any(n in sys.modules for n in self.mods)
        sys.modules.update(self.mods)
        return self
    def __exit__(self, *a):
        for n in self.mods: sys.modules.pop(n, None)

def _official_layout(fm, m, init_kwargs=None, marker=None):
    "An object that pickles as the official persistence record of module m (module_src would create `marker` if run)."
    class Rec:
        def __reduce__(self):
            subs = {k: _official_layout(fm, v, None, marker) for k, v in m._modules.items() if v is not None}
            state = dict(training=False, _parameters=dict(m._parameters), _buffers=dict(m._buffers), _modules=subs,
                         _non_persistent_buffers_set=set(), weight_gain=np.float64(0.125), act_gain=np.sqrt(2),
                         _init_args=(), _init_kwargs=init_kwargs or {})
            if isinstance(m, PanoHeadGenerator):   # the official training loop copies G's rendering kwargs into G_ema's state
                state.update(rendering_kwargs=dict(m.rendering_kwargs, density_noise=0.0), neural_rendering_resolution=m.neural_rendering_resolution)
            if type(m).__module__.startswith('torch.nn'): return (type(m), (), state)
            src = f'open({str(marker)!r}, "w").write("executed")' if marker else ''
            name = 'TriPlaneGenerator' if isinstance(m, PanoHeadGenerator) else type(m).__name__
            return (fm.fn, (dict(type='class', version=6, module_src=src, class_name=name, state=state),))
    return Rec()

def _easy(fm, x):
    return fm.EasyDict({k: _easy(fm, v) for k, v in x.items()}) if isinstance(x, dict) else x

def test_reads_official_layout_without_executing(G, tmp_path):
    marker = tmp_path/'executed'
    cfg = {k: v for k, v in G.config.items() if k != 'neural_rendering_resolution'}
    with _FakeModules() as fm:
        data = {'G_ema': _official_layout(fm, G, _easy(fm, cfg), marker), 'training_set_kwargs': _easy(fm, {'resolution': 128}),
                'extra': np.arange(3.)}
        (tmp_path/'G.pkl').write_bytes(pickle.dumps(data, protocol=4))
    cfg2, sd = read_panohead_pickle(tmp_path/'G.pkl')
    assert not marker.exists() and 'torch_utils' not in sys.modules
    assert cfg2['rendering_kwargs'] == dict(G.config['rendering_kwargs'], density_noise=0.0) and set(sd) == set(G.state_dict())
    assert cfg2['neural_rendering_resolution'] == G.neural_rendering_resolution
    H = load_panohead(tmp_path/'G.pkl')
    for k, v in G.state_dict().items(): assert torch.equal(v, H.state_dict()[k]), k
    convert_panohead(tmp_path/'G.pkl', tmp_path/'conv')
    assert (tmp_path/'conv'/'model.safetensors').exists() and isinstance(load_any_generator(tmp_path/'conv'), PanoHeadGenerator)

class _System:
    def __reduce__(self): return (os.system, ('touch /tmp/headstyle-pwned',))
class _Eval:
    def __reduce__(self): return (eval, ('1+1',))
class Unknown: pass
class _BadStorage:      # a tensor storage whose bytes are a torch.save of an os.system call
    def __reduce__(self):
        import io
        b = io.BytesIO(); torch.save(_System(), b, _use_new_zipfile_serialization=False)
        return (torch.storage._load_from_bytes, (b.getvalue(),))

@pytest.mark.parametrize('payload,match', [
    ({'G_ema': _System()}, r'refused global (posix|os)\.system'),
    ({'G_ema': _Eval()}, r'refused global builtins\.eval'),
    ({'G_ema': Unknown()}, r'refused global test_panohead\.Unknown'),
    ({'G_ema': subprocess.CompletedProcess}, r'refused global subprocess\.CompletedProcess'),
    ({'G_ema': _BadStorage()}, r'refused a tensor storage'),
])
def test_hostile_pickles_are_refused(tmp_path, payload, match):
    p = tmp_path/'bad.pkl'
    p.write_bytes(pickle.dumps(payload))
    with pytest.raises(pickle.UnpicklingError, match=match): load_panohead(p)
    assert not Path('/tmp/headstyle-pwned').exists()

def test_bad_files(tmp_path):
    p = tmp_path/'x.pkl'
    p.write_bytes(pickle.dumps({'a': 1}))
    with pytest.raises(ValueError, match="holds no network 'G_ema'"): load_panohead(p)
    p.write_bytes(pickle.dumps({'G_ema': [1, 2]})[:-5])
    with pytest.raises(ValueError, match='not a readable network pickle'): load_panohead(p)
    with pytest.raises(FileNotFoundError): load_panohead(tmp_path/'missing.pkl')
    (tmp_path/'f').mkdir()
    with pytest.raises(FileNotFoundError, match='config.json'): load_panohead(tmp_path/'f')

# ---------------------------------------------------------------------------------------------------------------------
# The command line: the official-layout pickle converted, then the paper preset and render on a small PanoHead

def test_cli_convert_stylize_render(tmp_path):
    import subprocess
    from conftest import BIN
    from headstyle.panohead import random_panohead
    G = random_panohead(small_config(samples=8))                              # renders inside [-1, 1], as the guide expects
    from tiny_sd import save_sd15_layout
    from headstyle.trainer import list_checkpoints
    models = save_sd15_layout(tmp_path/'models')
    prior = models[2:]                                                        # the SD1.5-layout prior, ControlNets, Depth Anything
    cfg = {k: v for k, v in G.config.items() if k != 'neural_rendering_resolution'}
    with _FakeModules() as fm:
        (tmp_path/'G.pkl').write_bytes(pickle.dumps({'G_ema': _official_layout(fm, G, _easy(fm, cfg))}, protocol=4))
    hs = lambda *a: subprocess.run([str(BIN/'headstyle'), *map(str, a)], capture_output=True, text=True, timeout=600)
    r = hs('convert-panohead', tmp_path/'G.pkl', tmp_path/'panohead')
    assert r.returncode == 0 and (tmp_path/'panohead'/'model.safetensors').exists(), r.stderr[-800:]
    r = hs('stylize', '--preset', 'paper', '--iters', '2', '--prompt', 'a marble statue', '--generator', tmp_path/'panohead',
           '--out', tmp_path/'run', *prior)
    assert r.returncode == 0 and list_checkpoints(tmp_path/'run')[-1].name == 'it000002', r.stderr[-1500:]
    r = hs('render', '--checkpoint', tmp_path/'run', '--samples', '2', '--generator', tmp_path/'G.pkl', '--out', tmp_path/'strips')
    assert r.returncode == 0 and len(list((tmp_path/'strips').glob('*.png'))) == 2, r.stderr[-800:]
    r = hs('convert-panohead', tmp_path/'nothing.pkl', tmp_path/'x')
    assert r.returncode == 2 and r.stderr.count('\n') == 1 and 'no file at' in r.stderr
    (tmp_path/'junk.pkl').write_bytes(pickle.dumps({'G_ema': __import__('collections').OrderedDict(a=1)}))
    (tmp_path/'half.pkl').write_bytes((tmp_path/'G.pkl').read_bytes()[:5000])
    (tmp_path/'noconfig').mkdir()
    for bad in ('junk.pkl', 'half.pkl', 'noconfig'):                          # another pickle, a truncated one, a folder without config
        r = hs('render', '--checkpoint', tmp_path/'run', '--samples', '1', '--generator', tmp_path/bad, '--out', tmp_path/'s2')
        assert r.returncode == 2 and r.stderr.count('\n') == 1 and bad in r.stderr, (bad, r.stderr)
