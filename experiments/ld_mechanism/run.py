"""One run of the LD-mechanism experiment: a rule (SDS, the authors' SDS, CFG LD or LD with an explicit classifier), each with the
edge ControlNet, mirror, LDIS and the authors' Tweedie weight carried to TinyHeads' size (the `tiny-authors-matched` preset), no grid,
no rank weighting; graded every `--every` iterations on 8 identities by the tiny judges (ID with its reference levels, retrieval,
diversity, style share, FID/KID) and by the explicit classifier (p_phi of the target style: the shortcut test).

Writes one JSON per run (rewritten after every grading, so a stopped run keeps what it measured) and keeps the run's checkpoints
under --runs; running the same command again continues from the last checkpoint.
"""
import argparse, json, shlex, sys, time
from pathlib import Path
import torch

RULES = {'sds': 'sds+controlnet', 'sds-authors': 'sds-authors+controlnet', 'ld': 'ld+controlnet', 'classifier': 'classifier-ld+controlnet'}
p = argparse.ArgumentParser(description=__doc__)
p.add_argument('--rule', required=True, choices=tuple(RULES))
p.add_argument('--style', default='werewolf')
p.add_argument('--seed', type=int, default=0, help="run seed; the graded identities are drawn from 10,000 + seed")
p.add_argument('--iters', type=int, default=360)
p.add_argument('--every', type=int, default=60, help='grade every k iterations')
p.add_argument('--classifier', default=None, help='classifier folder with scales.json (default: the shipped one); also used for p_phi')
p.add_argument('--name', default=None, help='run name (default: <style>-<rule>-seed<seed>)')
p.add_argument('--out', default='experiments/ld_mechanism/results', help='folder of the result JSONs')
p.add_argument('--runs', default='experiments/ld_mechanism/runs', help='folder of the run folders (checkpoints; not committed)')
p.add_argument('--identities', type=int, default=8)
a = p.parse_args()
torch.set_num_threads(1)

from headstyle.core import quiet_libraries
quiet_libraries()
from headstyle.prior import load_prior, load_controlnet
from headstyle.guidance import Guide, ddim_scheduler
from headstyle.generator import load_generator
from headstyle.stylize import StylizeConfig
from headstyle.trainer import Stylizer
from headstyle.trainer import list_checkpoints
from headstyle.metrics import Judges, fid_features, true_renders, generator_renders, INFERENCE_YAWS, INFERENCE_PITCH
from headstyle.evaluation import score_views, run_latents
from headstyle.classifier import StyleClassifier, load_style_score, encode_latents, add_noise, CLASSIFIER_DIR
from headstyle.world import STYLES

name = a.name or f'{a.style}-{a.rule}-seed{a.seed}'
out = Path(a.out)/f'{name}.json'; out.parent.mkdir(parents=True, exist_ok=True)
run_dir = Path(a.runs)/name
res = json.loads(out.read_text()) if out.exists() else {}
res.update(name=name, rule=a.rule, method=RULES[a.rule], style=a.style, seed=a.seed, preset='tiny-authors-matched',
           classifier=str(a.classifier or 'shipped'), command='python ' + ' '.join(shlex.quote(x) for x in sys.argv) + '  (from the repository root)')
res.setdefault('rows', [])
save = lambda: out.write_text(json.dumps(res, indent=1) + '\n')

pipe, G, judges = load_prior(), load_generator(), Judges.tiny()
edge = Guide.from_pipeline(pipe, controlnet=load_controlnet('edge'))
prompt = STYLES[a.style][0]
cfg = StylizeConfig.preset('tiny-authors-matched', prompt=prompt, seed=a.seed, iterations=a.iters, checkpoint_every=a.every,
                           preview_every=0).with_method(RULES[a.rule])
score = load_style_score(prompt, a.classifier) if a.rule == 'classifier' else None
clf = StyleClassifier.from_pretrained(a.classifier or CLASSIFIER_DIR)
ac = ddim_scheduler(pipe.scheduler.config).alphas_cumprod.float()

def p_phi(images, t=81, draws=4):
    "Mean probability the classifier gives the target style on (N, 3, H, W) renders, over noise draws at timestep t."
    z0, tt, ps = encode_latents(pipe.vae, images), torch.full((len(images),), t), []
    for k in range(draws):
        zt = add_noise(ac, z0, tt, torch.randn(z0.shape, generator=torch.Generator().manual_seed(k)))
        with torch.no_grad(): ps.append(clf(zt, tt).softmax(-1)[:, clf.class_index(a.style)])
    return torch.stack(ps).mean().item()

if run_dir.exists() and list_checkpoints(run_dir): st = Stylizer.resume(run_dir, G, edge, classifier=score)   # the same command continues
else: st = Stylizer(G, edge, None, cfg, run_dir, classifier=score)
st.config.iterations = a.iters                      # a run continued with a larger --iters runs on (saved with its next checkpoint)
res['config'] = json.loads(st.config.to_json())
if score is not None: res['classifier_scale'] = score.scale
res['classifier_sha256'] = __import__('hashlib').sha256((Path(a.classifier or CLASSIFIER_DIR)/'model.safetensors').read_bytes()).hexdigest()
save()
ws = run_latents(G, cfg, a.identities, 10_000 + a.seed)
orig = generator_renders(G, ws)
ref_img = true_renders(a.style, 40)['image'].flatten(0, 1)
ref = fid_features(judges, ref_img)
if 'reference' not in res:
    res['reference'] = dict(p_phi_true=p_phi(ref_img), p_phi_original=p_phi(orig['image'].flatten(0, 1)),
                            original=score_views(judges, orig, orig, prompt, ref))
    save()
t0 = time.time()
for k in range(a.every, a.iters + 1, a.every):
    if any(r['iteration'] == k for r in res['rows']): continue
    if st.iteration < k: st.run(k, progress=False)
    with torch.no_grad(): x = generator_renders(st.G, ws)
    row = dict(iteration=k, **score_views(judges, orig, x, prompt, ref), p_phi=p_phi(x['image'].flatten(0, 1)),
               seconds=round(time.time() - t0, 1))
    res['rows'].append(row); res['rows'].sort(key=lambda r: r['iteration']); save()
    print(f"{name} it {k}: id {row['id']:.3f} (other {row['id_other']:.3f}) retrieval {row['retrieval']:.2f} div {row['diversity']:.3f} "
          f"style {row['style_share']:.2f} kid {row['kid']:.4f} p_phi {row['p_phi']:.2f}", flush=True)
