"""Metrics and judge measurements on known inputs."""
import pytest, torch
import torch.nn.functional as F
from headstyle.judges import frechet_distance, load_id_model, grid_consistency, sample_foreground
from headstyle.metrics import identity_similarity, identity_diversity, pairwise_distance, reference_levels, identity_reference
from headstyle.generator import mask_iou


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

def test_reference_levels_of_hand_built_embeddings():
    e = torch.eye(4)[None]                                              # (1 view, 4 orthogonal heads, 4)
    tilted = F.normalize(e + 1 / 3, dim=-1)                             # cos to its own head 4/√19, to the others 1/√19
    r = reference_levels(e, tilted)
    assert r['id_cross'].tolist() == [0.] and r['retrieval'].tolist() == [1.]
    assert r['id_other'].item() == pytest.approx(19 ** -0.5, abs=1e-6)
    shifted = reference_levels(e, e[:, [1, 0, 3, 2]])                   # heads swapped in pairs: each matches one other original
    assert shifted['retrieval'].tolist() == [0.] and shifted['id_other'].item() == pytest.approx(1 / 3, abs=1e-6)
    half = reference_levels(e, e[:, [0, 1, 3, 2]])                      # two heads kept, two swapped
    assert half['retrieval'].tolist() == [0.5]
    assert set(reference_levels(e)) == {'id_cross'}
    with pytest.raises(ValueError, match='N >= 2'): reference_levels(e[:, :1])
    with pytest.raises(ValueError, match='must pair up'): reference_levels(e, e[:, :3])

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
    same, moved = identity_reference(rec, x, x), identity_reference(rec, x, x[:, [1, 2, 3, 0]])
    assert same['retrieval'].tolist() == [1., 1.] and moved['retrieval'].tolist() == [0., 0.]
    assert torch.allclose(same['id_other'], same['id_cross'], atol=1e-6) and torch.allclose(moved['id_cross'], same['id_cross'], atol=1e-6)
    assert torch.allclose(same['id_cross'], 1 - identity_diversity(rec, x), atol=1e-5)       # both average the pairs of different heads
    assert identity_reference(rec, x, x[:, [0, 0, 0, 0]])['retrieval'].tolist() == [0.25, 0.25]   # every head one face: chance
    with pytest.raises(ValueError, match='must pair up'): identity_similarity(rec, x, x[:, :2])

def test_id_below_id_cross_can_still_be_its_own_head(rec):
    "ID below id_cross is not a lost identity when a style moves every head away from every original; ID above it is not a kept one."
    e = torch.eye(5)[None]                                              # (1 view, 5 axes, 5)
    e0 = F.normalize(e[:, :3] + e[:, 3:4], dim=-1)                      # 3 originals sharing one axis: pairwise cos 1/2
    styled = F.normalize(0.6 * e[:, :3] + 0.8 * e[:, 4:5], dim=-1)      # own axis kept, shared axis swapped for a style axis
    r = reference_levels(e0, styled)
    own = (styled * e0).sum(-1).mean()                                  # ID: 0.6/√2 against id_cross 1/2
    assert own.item() == pytest.approx(0.6 / 2 ** 0.5, abs=1e-6) and r['id_cross'].item() == pytest.approx(0.5, abs=1e-6)
    assert r['id_other'].item() == pytest.approx(0., abs=1e-6) and r['retrieval'].tolist() == [1.]
    from headstyle.generator import load_generator
    from headstyle.metrics import generator_views
    from headstyle.cameras import camera_params
    G = load_generator()
    z = torch.randn(8, G.z_dim, generator=torch.Generator().manual_seed(0))
    x = generator_views(G, G.mapping(z, camera_params(torch.zeros(8), 0.2), truncation_psi=0.75).detach())   # (5, 8, 3, 64, 64)
    for y, below in ((x.mean(2, keepdim=True).expand_as(x), True), (x[:, :1].expand_as(x), False)):   # colour taken away; all head 0
        m = dict(id=identity_similarity(rec, x, y).mean(), **{k: v.mean() for k, v in identity_reference(rec, x, y).items()})
        if below: assert m['id'] < m['id_cross'] - 0.03 and m['id'] > m['id_other'] + 0.1 and m['retrieval'] > 2 / 8
        else: assert m['id'] > m['id_cross'] + 0.05 and m['retrieval'] == pytest.approx(1 / 8)

def test_grid_consistency_and_foreground_on_true_grids(rec):
    from headstyle.prior import render_prior_data
    d = render_prior_data(4, grid=True, seed=5)
    c = grid_consistency(rec, d.images)
    assert c['within'] > c['across'] + 0.2
    assert mask_iou(sample_foreground(d.images).float(), d.mask).mean() > 0.9

# --- the paper's metrics: FID/KID, CLIP score, ID, Delta-D, the Judges bundle and `headstyle evaluate` ---
import json, math
from dataclasses import asdict
from pathlib import Path
from headstyle.metrics import Judges, kid, clip_pixels, clip_score, clip_cosines, fid_features, delta_depth, true_renders, generator_renders, load_image_folder
from headstyle.evaluation import score_views, run_latents

@pytest.fixture(scope='module')
def judges(): return Judges.tiny()

@pytest.fixture(scope='module')
def truth():
    "Ground-truth renders of every style (4 identities x 5 yaws), and a second statue sample of other identities."
    from headstyle.world import STYLE_NAMES
    d = {s: true_renders(s, 4, seed=11) for s in STYLE_NAMES}
    d['statue2'] = true_renders('statue', 4, seed=12)
    return d

def test_kid_is_unbiased_and_grows_with_a_shift():
    g = torch.Generator().manual_seed(0)
    a, b = torch.randn(400, 8, generator=g), torch.randn(400, 8, generator=g)
    same, shifted = kid(a, b, subsets=20, subset_size=200), kid(a, b + 0.5, subsets=20, subset_size=200)
    assert abs(same['mean']) < 3 * same['std'] + 1e-3 and shifted['mean'] > 10 * abs(same['mean']) + 0.05
    with pytest.raises(ValueError, match=r'\(N, D\) and \(M, D\)'): kid(a, b[:, :3])

def test_fid_and_kid_separate_styles(judges, truth):
    f = {k: fid_features(judges, truth[k]['image'].flatten(0, 1)) for k in ('statue', 'statue2', 'photo')}
    same, other = frechet_distance(f['statue2'], f['statue']), frechet_distance(f['photo'], f['statue'])
    assert same < 0.25 * other, (same, other)
    assert kid(f['statue2'], f['statue'])['mean'] < 0.25 * kid(f['photo'], f['statue'])['mean']

def test_clip_score_ranks_each_style_first_for_its_prompt(judges, truth):
    from headstyle.world import STYLES, STYLE_NAMES
    prompts = [STYLES[s][0] for s in STYLE_NAMES]
    cos = torch.stack([clip_cosines(judges, truth[s]['image'].flatten(0, 1), prompts).mean(0) for s in STYLE_NAMES])  # (styles, prompts)
    assert (cos.argmax(0) == torch.arange(len(STYLE_NAMES))).all(), cos          # each prompt prefers its own style's renders
    score = torch.stack([clip_score(judges, truth[s]['image'].flatten(0, 1), p)['score'].mean() for s in STYLE_NAMES for p in prompts])
    assert (score.reshape(len(STYLE_NAMES), -1).argmax(0) == torch.arange(len(STYLE_NAMES))).all()   # the reported CLIPScore too

def test_delta_d_zero_on_itself_and_growing_with_shape():
    from headstyle.world import z_to_identity, random_latents, render_heads
    from headstyle.cameras import camera_params
    ident = z_to_identity(random_latents(3, 5))
    cams = camera_params(torch.tensor([-0.5, 0., 0.5]).repeat_interleave(3), 0.17)
    def render(dw):
        i = ident.clone(); i[:, 0] = (i[:, 0] + dw).clamp(-1, 1); i[:, 1] = (i[:, 1] - dw).clamp(-1, 1)   # head width up, height down
        return render_heads(i.repeat(3, 1), cams)
    r = [render(dw) for dw in (0., 0.2, 0.5, 1.0)]
    dd = [delta_depth(r[0]['depth'], r[0]['mask'], x['depth'], x['mask']).mean().item() for x in r]
    assert dd[0] == 0 and dd[1] > 0.005 and dd[1] < dd[2] < dd[3], dd
    with pytest.raises(ValueError, match='pair up'): delta_depth(r[0]['depth'], r[0]['mask'], r[1]['depth'][:2], r[1]['mask'][:2])

def test_generator_against_itself(judges):
    from headstyle.generator import load_generator
    from headstyle.stylize import StylizeConfig
    G = load_generator()
    ws = run_latents(G, StylizeConfig.preset('tiny'), 4, 0)
    r = generator_renders(G, ws, yaws=(-0.5, 0., 0.5))
    ref = fid_features(judges, true_renders('statue', 4, yaws=(-0.5, 0., 0.5))['image'].flatten(0, 1))
    s = score_views(judges, r, r, 'a marble statue', ref)
    assert s['id'] == pytest.approx(1., abs=1e-4) and s['delta_d'] == 0
    assert s['retrieval'] == 1 and s['id_other'] == pytest.approx(s['id_cross'], abs=1e-6) and s['id_cross'] < 0.9
    other = generator_renders(G, ws.roll(1, 0), yaws=(-0.5, 0., 0.5))
    s2 = score_views(judges, r, other, 'a marble statue', ref)
    assert s2['id'] < s['id'] - 0.2 and s2['delta_d'] > 0.01
    assert s2['retrieval'] == 0 and s2['id_cross'] == pytest.approx(s['id_cross'], abs=1e-6) and s2['id_other'] > s['id_other']
    assert s2['fid'] == pytest.approx(s['fid'], rel=1e-6)                     # the same set of heads, reordered
    sf = score_views(judges, r, other, 'a marble statue', ref, id_views=[1]); front = sf['id']            # --front-only: the yaw-0 view
    assert front == pytest.approx(identity_similarity(judges.recognizer, r['image'][[1]], other['image'][[1]]).mean().item())
    assert sf['id_cross'] == pytest.approx(identity_reference(judges.recognizer, r['image'][[1]])['id_cross'].item(), abs=1e-6)   # the same views as ID
    assert front != pytest.approx(s2['id'], abs=1e-3)

def test_clip_pixels_match_the_processor(judges):
    from transformers import CLIPImageProcessor
    g = torch.Generator().manual_seed(0)
    x = torch.rand(3, 3, 64, 64, generator=g) * 2 - 1
    pv = judges.processor(images=[((i + 1) / 2).permute(1, 2, 0).numpy() for i in x], do_rescale=False, return_tensors='pt').pixel_values
    assert (clip_pixels(judges.processor, x) - pv).abs().max() < 0.01                                # tiny CLIP: identity up to uint8
    ip = CLIPImageProcessor(size={'shortest_edge': 24}, crop_size={'height': 24, 'width': 24},
                            image_mean=[0.48145466, 0.4578275, 0.40821073], image_std=[0.26862954, 0.26130258, 0.27577711])
    y = F.interpolate(torch.rand(2, 3, 10, 14, generator=g), size=(40, 56), mode='bilinear') * 2 - 1   # a smooth image, resized and cropped
    pv = ip(images=[((i + 1) / 2).permute(1, 2, 0).numpy() for i in y], do_rescale=False, return_tensors='pt').pixel_values
    mine = clip_pixels(ip, y)
    assert mine.shape == pv.shape and (mine - pv).abs().mean() < 0.02 and (mine - pv).abs().max() < 0.05, (mine - pv).abs().max()

def test_tiny_clip_folder_loads_as_a_transformers_clip(truth):
    from transformers import pipeline
    from PIL import Image
    from headstyle.generator import ASSETS
    pipe = pipeline('zero-shot-image-classification', model=str(ASSETS/'tinyclip'))
    im = Image.fromarray(((truth['werewolf']['image'][2, 0] + 1) * 127.5).round().byte().permute(1, 2, 0).numpy())
    assert pipe(im, candidate_labels=['a photo of a person', 'a werewolf', 'a marble statue'])[0]['label'] == 'a werewolf'

def random_judges(root:Path)->Path:
    "A judges folder of tiny random models built from configs: CLIP, an ONNX recognizer, a TorchScript feature module."
    from transformers import CLIPImageProcessor
    from headstyle.judges import make_tiny_clip, TinyID, export_id_onnx
    from headstyle.prior import build_tokenizer, all_prompts
    tok = build_tokenizer(all_prompts(), root/'clip')
    make_tiny_clip(tok, width=32, image_size=32, seed=1).save_pretrained(root/'clip'); tok.save_pretrained(root/'clip')
    CLIPImageProcessor(size={'shortest_edge': 32}, crop_size={'height': 32, 'width': 32}).save_pretrained(root/'clip')
    torch.manual_seed(0); export_id_onnx(TinyID(dim=32, width=8).eval(), root/'arcface'/'w600k_tiny.onnx')
    class Features(torch.nn.Module):
        def __init__(self):
            super().__init__(); self.conv = torch.nn.Conv2d(3, 16, 5, 4)
        def forward(self, x, return_features: bool = False):
            f = self.conv(x / 255).relu().mean((2, 3))
            return f if return_features else f.sum(1)
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter('ignore', DeprecationWarning)
        torch.jit.save(torch.jit.script(Features()), str(root/'inception.pt'))
    return root

def test_random_judges_from_folders(tmp_path, truth):
    j = Judges.load(random_judges(tmp_path))
    assert j.names['features'].endswith('inception.pt') and j.recognizer.taskname == 'recognition'
    x = truth['statue']
    ref = fid_features(j, truth['photo']['image'].flatten(0, 1))
    assert ref.shape == (20, 16)
    s = score_views(j, x, x, 'a marble statue', ref)
    assert s['id'] == pytest.approx(1., abs=1e-4) and s['delta_d'] == 0 and math.isfinite(s['fid']) and s['fid'] > 0
    assert s['clip'] == pytest.approx(clip_score(j, x['image'].flatten(0, 1), 'a marble statue')['score'].mean().item())
    (tmp_path/'clip'/'preprocessor_config.json').unlink()
    with pytest.raises(FileNotFoundError, match='lacks preprocessor_config.json'): Judges.load(tmp_path)

def fake_run(folder:Path, G, prompt='a marble statue')->Path:
    "A checkpoint folder as the stylizer writes it (generator weights, config, stylize.json), for a given generator."
    from headstyle.generator import save_generator
    from headstyle.stylize import StylizeConfig
    save_generator(G, folder/'checkpoints'/'it000010')
    (folder/'checkpoints'/'it000010'/'stylize.json').write_text(json.dumps(dict(config=asdict(StylizeConfig.preset('tiny', prompt=prompt)), iteration=10)))
    return folder

def evaluate_cli(*argv):
    import contextlib, io
    from headstyle.cli import main
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try: code = main(list(map(str, argv)))
        except SystemExit as e: code = e.code
    return code, out.getvalue(), err.getvalue()

def test_evaluate_command(tmp_path, truth):
    from headstyle.generator import load_generator
    from PIL import Image
    G = load_generator()
    with torch.no_grad():
        for n, p in G.backbone.synthesis.named_parameters(): p.add_(torch.randn_like(p) * 0.3 * p.std())
    fake_run(tmp_path/'runA', G); fake_run(tmp_path/'runB', load_generator())
    ref = tmp_path/'ref'; ref.mkdir()
    for i, im in enumerate(truth['statue']['image'].flatten(0, 1)):
        Image.fromarray(((im + 1) * 127.5).round().byte().permute(1, 2, 0).numpy()).save(ref/f'{i:03d}.png')
    code, out, err = evaluate_cli('evaluate', tmp_path/'runA', tmp_path/'runB', '--identities', 3, '--reference', ref, '--out', tmp_path/'ev')
    assert code == 0, err
    m = json.loads((tmp_path/'ev'/'metrics.json').read_text())
    assert list(m['runs']) == ['runA', 'runB'] and m['settings']['prompt'] == 'a marble statue' and m['settings']['reference_images'] == 20
    a, b = m['runs']['runA'], m['runs']['runB']
    assert b['id'] == pytest.approx(1, abs=1e-4) and b['delta_d'] == 0 and b['fid'] == pytest.approx(m['original']['fid'])
    assert a['id'] < 0.99 and a['delta_d'] > 0
    html = (tmp_path/'ev'/'report.html').read_text()
    assert html.count('<img') == 3 * 3 * 5 and 'ΔD' in html and 'runA' in out
    assert b['retrieval'] == 1 and a['id_cross'] == pytest.approx(m['original']['id_cross'], abs=1e-6) and m['original']['id_other'] == pytest.approx(m['original']['id_cross'], abs=1e-6)
    assert 'ID cross' in html and 'ID top-1' in html and "3 identities × 5 yaws), a covariance of rank at most 14 in the features' 64 dimensions" in html
    assert not list((tmp_path/'ev').glob('.*.tmp'))

def test_evaluate_bad_input(tmp_path):
    from headstyle.generator import load_generator
    from PIL import Image
    run = fake_run(tmp_path/'run', load_generator())
    (tmp_path/'empty').mkdir(); (tmp_path/'mixed').mkdir(); (tmp_path/'nojudge').mkdir(); (tmp_path/'norun').mkdir()
    for i, s in enumerate((16, 16, 20)): Image.new('RGB', (s, s)).save(tmp_path/'mixed'/f'{i}.png')
    cases = {'no stylizer checkpoint': ('evaluate', tmp_path/'norun'),
             'holds 0 images': ('evaluate', run, '--reference', tmp_path/'empty'),
             'mixes image sizes': ('evaluate', run, '--reference', tmp_path/'mixed'),
             'no CLIP folder': ('evaluate', run, '--judges', tmp_path/'nojudge'),
             'at least 2': ('evaluate', run, '--identities', 1)}
    for msg, args in cases.items():
        code, _, err = evaluate_cli(*args, '--out', tmp_path/'out')
        assert code == 2 and len(err.strip().splitlines()) == 1 and msg in err, (msg, err)

def test_edit_runs_are_graded_on_the_same_identities(tmp_path, judges, small_reference):
    from headstyle.generator import load_generator
    from headstyle.stylize import StylizeConfig, generator_fingerprint
    from headstyle.metrics import generator_renders
    from headstyle.evaluation import save_edit_run, evaluate_runs, run_latents
    G, c = load_generator(), StylizeConfig.preset('tiny')
    w0 = run_latents(G, c, 4, 0)
    shifted = w0 + 0.5 * torch.randn_like(w0)
    save_edit_run(tmp_path/'lat', 'test', 'a werewolf', w0, 0, c, w=shifted, fingerprint=generator_fingerprint(G))
    views = generator_renders(G, w0)['image']
    save_edit_run(tmp_path/'views', 'test', 'a werewolf', w0, 0, c, edited=views.flip(-1))
    fake_run(tmp_path/'same', G, 'a werewolf')
    res, _ = evaluate_runs([tmp_path/'lat', tmp_path/'views', tmp_path/'same'], identities=4, judges=judges, progress=False, reference=small_reference)
    lat, v, same = (res['runs'][k] for k in ('lat', 'views', 'same'))
    assert same['id'] == pytest.approx(1, abs=1e-4) and lat['id'] < 0.99 and lat['delta_d'] > 0
    assert v['delta_d'] is None and v['id'] < 0.999                 # 2D edits: no depth; mirrored views are not the same images
    assert res['settings']['methods'] == dict(lat='test', views='test', same='full')
    with pytest.raises(ValueError, match='other identities'): evaluate_runs([tmp_path/'lat'], identities=4, seed=1, judges=judges, progress=False)
    with pytest.raises(ValueError, match='other identities'): evaluate_runs([tmp_path/'lat'], identities=3, judges=judges, progress=False)
    with pytest.raises(ValueError, match='either'): save_edit_run(tmp_path/'bad', 'test', 'x', w0, 0, c)
    with pytest.raises(ValueError, match='yaws, identities'): save_edit_run(tmp_path/'bad', 'test', 'x', w0, 0, c, edited=views[:, :2])
