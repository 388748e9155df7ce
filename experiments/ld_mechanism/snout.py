"""Why no rule grows the werewolf's snout: can the stylization's trainable set grow it at all in a run's length?

An *oracle* fine-tune trains the same weights as a stylization run (`trainable_parameters`: synthesis and super-resolution,
biases excluded) with the same optimizer settings (the `tiny-authors-matched` preset's Adam, relative lr) for the same number
of iterations, but on the truth: the pixel MSE between the generator's render and TinyHeads' true werewolf render of the same
identity and camera (and, with --depth, the MSE of the depth too). Latents are untruncated here (psi = 1), so that each
render's true identity is the world's z_to_identity(z).

Every --every iterations (and for each --checkpoint given, e.g. the rule runs' last checkpoints) it measures the *shape error*:
the mean absolute depth difference to the true werewolf, over the foreground both share, on 8 identities at yaws -90, -30, 0,
30, 90 degrees; and the same to the true photo head (the original shape). A shape that moved towards the werewolf has the
first fall below its start and the second rise. Writes one JSON.
"""
import argparse, json, math, shlex, sys, time
from pathlib import Path
import torch
import torch.nn.functional as F
from safetensors.torch import load_file

p = argparse.ArgumentParser(description=__doc__)
p.add_argument('--style', default='werewolf')
p.add_argument('--iters', type=int, default=360)
p.add_argument('--every', type=int, default=60)
p.add_argument('--depth', action='store_true', help='also fit the true depth (the oracle sees the shape directly)')
p.add_argument('--checkpoint', nargs='*', default=[], help='NAME=PATH of generator weights (model.safetensors) to measure too')
p.add_argument('--out', required=True)
p.add_argument('--seed', type=int, default=0)
a = p.parse_args()
torch.set_num_threads(1)
from headstyle.core import quiet_libraries
quiet_libraries()
from headstyle.generator import load_generator
from headstyle.stylize import StylizeConfig, freeze_for_stylization, trainable_parameters, param_groups
from headstyle.world import render_heads, z_to_identity, random_latents
from headstyle.cameras import sample_cameras, camera_params, INFERENCE_YAWS, INFERENCE_PITCH
from headstyle.metrics import Judges, fid_features, true_renders, generator_renders
from headstyle.evaluation import score_views, run_latents
from headstyle.world import STYLES

cfg = StylizeConfig.preset('tiny-authors-matched')
z_eval = random_latents(8, 10_000 + a.seed)
cams_eval = torch.cat([camera_params(torch.full((8,), y), INFERENCE_PITCH) for y in INFERENCE_YAWS])
z5 = z_eval.repeat(len(INFERENCE_YAWS), 1)
truth = {s: render_heads(z_to_identity(z5), cams_eval, s) for s in (a.style, 'photo')}

judges = Judges.tiny()
ref = fid_features(judges, true_renders(a.style, 40)['image'].flatten(0, 1))
ws_graded = run_latents(load_generator(), cfg, 8, 10_000 + a.seed)     # the identities run.py grades
orig_views = generator_renders(load_generator(), ws_graded)

def shape_error(G)->dict:
    "Mean |depth - true depth| over the shared foreground, to the style's truth and to the photo's; the image MSE to the style; and run.py's grades."
    with torch.no_grad(): r = G.synthesis(G.mapping(z5, cams_eval, truncation_psi=1.), cams_eval)
    res = r['image_depth'].shape[-1]
    out = {}
    for s, t in truth.items():
        d, m = F.interpolate(t['depth'], size=(res, res), mode='bilinear', align_corners=False), F.interpolate(t['mask'], size=(res, res), mode='bilinear', align_corners=False)
        both = (m > 0.5) & (r['image_mask'] > 0.5)
        out[f'depth_to_{s}'] = ((r['image_depth'] - d).abs()[both].mean().item())
        out[f'mask_iou_{s}'] = (both.sum() / ((m > 0.5) | (r['image_mask'] > 0.5)).sum()).item()
    out['image_mse_to_style'] = F.mse_loss(r['image'], truth[a.style]['image']).item()
    sv = score_views(judges, orig_views, generator_renders(G, ws_graded), STYLES[a.style][0], ref)
    return out | {k: sv[k] for k in ('style_share', 'id', 'diversity', 'delta_d', 'kid')}

res = dict(command='python ' + ' '.join(shlex.quote(x) for x in sys.argv) + '  (from the repository root)', style=a.style,
           trainable=f"{sum(p.numel() for p in trainable_parameters(load_generator()).values())} weights (synthesis and super-resolution, biases excluded)",
           optimizer=dict(lr=cfg.lr, relative_lr=cfg.relative_lr, adam_betas=cfg.adam_betas), rows=[], checkpoints={})
G0 = load_generator()
res['original'] = shape_error(G0)
for item in a.checkpoint:
    name, path = item.split('=', 1)
    G = load_generator(); G.load_state_dict(load_file(path)); res['checkpoints'][name] = shape_error(G)
G = freeze_for_stylization(load_generator())
params = trainable_parameters(G)
opt = torch.optim.Adam(param_groups(params, cfg.lr, cfg.relative_lr), betas=cfg.adam_betas)
g = torch.Generator().manual_seed(a.seed)
t0 = time.time()
for it in range(1, a.iters + 1):
    z = torch.randn(1, G.z_dim, generator=g)
    cam = sample_cameras(1, cfg.single_yaw, cfg.single_pitch, generator=g)
    t = render_heads(z_to_identity(z), cam, a.style)
    r = G.synthesis(G.mapping(z, cam, truncation_psi=1.), cam)
    loss = F.mse_loss(r['image'], t['image'])
    if a.depth:
        res_ = r['image_depth'].shape[-1]
        d = F.interpolate(t['depth'], size=(res_, res_), mode='bilinear', align_corners=False)
        m = F.interpolate(t['mask'], size=(res_, res_), mode='bilinear', align_corners=False)
        loss = loss + F.mse_loss(r['image_depth'] * m, d * m) + F.mse_loss(r['image_mask'], m)
    opt.zero_grad(); loss.backward(); opt.step()
    if it % a.every == 0:
        row = dict(iteration=it, loss=loss.item(), seconds=round(time.time() - t0, 1), **shape_error(G))
        res['rows'].append(row)
        Path(a.out).write_text(json.dumps(res, indent=1) + '\n')
        print(json.dumps(row), flush=True)
Path(a.out).write_text(json.dumps(res, indent=1) + '\n')
