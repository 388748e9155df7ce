"""Measure one candidate prior for the LD dose-response: push-left per style and step, a quick style accuracy, and short
stylization runs (LD, SDS and the authors' SDS, each with the edge ControlNet) measured along the run on the demo's identities.

Writes (and rewrites after every run, so a stopped job keeps what it measured) one JSON file.
"""
import argparse, json, shlex, sys, time
from dataclasses import replace, asdict
from pathlib import Path
import torch

p = argparse.ArgumentParser(description=__doc__)
p.add_argument('--prior', default=None, help='diffusers folder of the prior (default: the shipped one)')
p.add_argument('--edge', default=None, help='edge ControlNet folder (default: the shipped one)')
p.add_argument('--name', required=True, help='name of the candidate prior in the results')
p.add_argument('--lever', default='', help='what differs from the shipped prior, in words')
p.add_argument('--negative', default='', help="negative prompt of the guide (the paper: '')")
p.add_argument('--styles', default='werewolf,pixar', help='styles stylized towards (their canonical prompts)')
p.add_argument('--rules', default='ld,sds,sds-authors', help='gradient rules, each with the edge ControlNet')
p.add_argument('--iters', type=int, default=120, help='iterations of each run')
p.add_argument('--every', type=int, default=30, help='measure every k iterations')
p.add_argument('--tweedie', type=float, default=0.1, help="single-view Tweedie weight (the authors' balance: 0.1)")
p.add_argument('--seed', type=int, default=0, help='run seed; the identities are the demo\'s for this seed')
p.add_argument('--out', required=True, help='results JSON')
p.add_argument('--steps', default='35,40,45', help='DDIM step indices at which push-left is measured')
p.add_argument('--skip-runs', action='store_true', help='only push-left and style accuracy')
p.add_argument('--runs-only', action='store_true', help='only the runs (push-left and accuracy are in another file of this name)')
a = p.parse_args()
torch.set_num_threads(1)

from headstyle.core import quiet_libraries
quiet_libraries()
from headstyle.prior import load_prior, load_controlnet
from headstyle.guidance import Guide, GuideConfig, cfg_residual
from headstyle.judges import load_id_model, load_tiny_clip, prior_samples, style_judgement
from headstyle.generator import load_generator
from headstyle.metrics import generator_views, identity_similarity, identity_diversity, style_share
from headstyle.stylize import StylizeConfig
from headstyle.trainer import Stylizer
from headstyle.cameras import camera_params
from headstyle.world import STYLES, STYLE_NAMES, render_heads, z_to_identity, random_latents

out = Path(a.out); out.parent.mkdir(parents=True, exist_ok=True)
res = json.loads(out.read_text()) if out.exists() else {}
res.update(name=a.name, lever=a.lever, prior=a.prior or 'shipped', edge=a.edge or 'shipped', negative_prompt=a.negative,
           command='PYTHONPATH=. python ' + ' '.join(shlex.quote(x) for x in sys.argv))
save = lambda: out.write_text(json.dumps(res, indent=1))
pipe = load_prior(a.prior)
clip = load_tiny_clip(); rec = load_id_model()
PAPER_STYLES = ['pixar', 'joker', 'werewolf', 'sketch', 'statue']

if 'push_left' not in res and not a.runs_only:
    # `judges.push_left` at three step indices, with each style's 16 renders made once
    guide = Guide.from_pipeline(pipe, GuideConfig(negative_prompt=a.negative))
    ident, cam = z_to_identity(random_latents(16, 7)), camera_params(torch.zeros(16), torch.full((16,), 0.2))
    imgs = {s: render_heads(ident, cam, s)['image'] for s in ['photo'] + PAPER_STYLES}
    size = lambda s, style, k: cfg_residual(guide, imgs[s], STYLES[style][0], k, seed=0)
    res['push_left'], res['shared'] = {}, {}
    for s in PAPER_STYLES:
        r = {k: (size(s, s, k), size('photo', s, k)) for k in map(int, a.steps.split(','))}
        res['push_left'][s] = {str(k): v[0]['norm'] / v[1]['norm'] for k, v in r.items()}
        res['shared'][s] = {str(k): v[0]['shared'] for k, v in r.items()}
    save()
if 'accuracy' not in res and not a.runs_only:   # the report card's style accuracy, on 16 samples per style instead of 64
    acc = {}
    for k, s in enumerate(STYLE_NAMES):
        x = prior_samples(pipe, STYLES[s][0], 16, steps=20, seed=k)
        acc[s] = sum(j == s for j in style_judgement(*clip, x)) / len(x)
    res['accuracy'] = acc; save()
if not a.runs_only: print(a.name, 'push-left:', res['push_left'], 'accuracy:', res['accuracy'], flush=True)
if a.skip_runs: sys.exit()

G = load_generator()
edge = Guide.from_pipeline(pipe, controlnet=load_controlnet(a.edge or 'edge'))
z = torch.randn(8, G.z_dim, generator=torch.Generator().manual_seed(10_000 + a.seed))
with torch.no_grad(): ws = G.mapping(z, camera_params(torch.zeros(8), 0.2), truncation_psi=0.75)
before = generator_views(G, ws)
original = {s: style_share(*clip, before, STYLES[s][0])[1] for s in PAPER_STYLES}
if a.seed == 0: res.setdefault('original', original)
res.setdefault('runs', {})
for style in a.styles.split(','):
    for rule in a.rules.split(','):
        key = f'{style}/{rule}' + (f'/seed{a.seed}' if a.seed else '')   # seed 0 keeps the first files' keys
        if key in res['runs']: continue
        cfg = StylizeConfig.preset('tiny', prompt=STYLES[style][0], seed=a.seed, iterations=a.iters, checkpoint_every=a.iters,
                                   preview_every=0).with_method(f'{rule}+controlnet')
        cfg = replace(cfg, negative_prompt=a.negative, tweedie_weight=a.tweedie)
        st, rows, t0 = Stylizer(G, edge, None, cfg), [], time.time()
        for k in range(a.every, a.iters + 1, a.every):
            st.run(k, progress=False)
            with torch.no_grad(): x = generator_views(st.G, ws)
            rows.append(dict(it=k, id=identity_similarity(rec, before, x).mean().item(),
                             diversity=identity_diversity(rec, x).mean().item(), style=style_share(*clip, x, cfg.prompt)[1]))
        res['runs'][key] = dict(config=json.loads(cfg.to_json()), seconds=time.time() - t0, curve=rows, seed=a.seed,
                                original=original[style])
        save()
        print(key, ' '.join(f"[{r['it']}: id {r['id']:.3f} div {r['diversity']:.3f} style {r['style']:.0%}]" for r in rows), flush=True)
