"""Where do the rules' gradients point? At the original generator, for the same draws (identity, camera, noise), the cosine
between each rule's single-view gradient on the trainable weights and the gradient of the truth: the pixel MSE to TinyHeads'
true werewolf render of the same identity and camera (*image*), and the MSE of depth and silhouette alone (*shape*).

Each rule as in run.py (edge ControlNet, the tiny-authors-matched balance) with the single view's distillation term alone
(no mirror, no Tweedie, no LDIS) and untruncated latents (psi = 1), so that each draw's true identity is the world's
z_to_identity(z). Writes one JSON.
"""
import argparse, json, shlex, sys
from pathlib import Path
import torch
import torch.nn.functional as F

p = argparse.ArgumentParser(description=__doc__)
p.add_argument('--style', default='werewolf')
p.add_argument('--draws', type=int, default=16)
p.add_argument('--out', default='experiments/ld_mechanism/gradient_aim.json')
a = p.parse_args()
torch.set_num_threads(1)
from headstyle.core import quiet_libraries
quiet_libraries()
from headstyle.prior import load_prior, load_controlnet
from headstyle.guidance import Guide
from headstyle.generator import load_generator
from headstyle.stylize import StylizeConfig
from headstyle.trainer import Stylizer
from headstyle.cameras import sample_cameras
from headstyle.world import STYLES, render_heads, z_to_identity

RULES = {'SDS': 'sds+controlnet', "authors' SDS": 'sds-authors+controlnet', 'CFG LD': 'ld+controlnet', 'classifier LD': 'classifier-ld+controlnet'}
pipe, G = load_prior(), load_generator()
edge = Guide.from_pipeline(pipe, controlnet=load_controlnet('edge'))
res = dict(command='python ' + ' '.join(shlex.quote(x) for x in sys.argv) + '  (from the repository root)', style=a.style, draws=a.draws, cosine={})
cos = lambda u, v: (u @ v / (u.norm() * v.norm()).clamp_min(1e-30)).item()
for name, method in RULES.items():
    cfg = StylizeConfig.preset('tiny-authors-matched', prompt=STYLES[a.style][0], truncation_psi=1., mirror=False, tweedie_weight=0.,
                               ldis_weight=0., seed=0).with_method(method)
    st = Stylizer(G, edge, None, cfg)
    params = list(st.params.values())
    rows = []
    for k in range(a.draws):
        state = st.rng.get_state()
        ws = st.sample_ws(1)                                               # the draws single_view_losses will make, in its order
        z_state = torch.Generator().set_state(state)
        z = torch.randn(1, st.G.z_dim, generator=z_state)
        cam = sample_cameras(1, cfg.single_yaw, cfg.single_pitch, generator=st.rng)
        st.rng.set_state(state)
        rule = st.term_gradients()['single']                               # this iteration's draws; state restored
        t = render_heads(z_to_identity(z), cam, a.style)
        r = st.render(ws, cam)
        res_ = r['image_depth'].shape[-1]
        up = lambda x: F.interpolate(x, size=(res_, res_), mode='bilinear', align_corners=False)
        flat = lambda loss: torch.cat([(g if g is not None else torch.zeros_like(q)).flatten() for g, q in
                                       zip(torch.autograd.grad(loss, params, retain_graph=True, allow_unused=True), params)])
        image = flat(F.mse_loss(r['image'], t['image']))
        shape = flat(F.mse_loss(r['image_depth'] * up(t['mask']), up(t['depth']) * up(t['mask'])) + F.mse_loss(r['image_mask'], up(t['mask'])))
        rows.append(dict(image=cos(-rule, -image), shape=cos(-rule, -shape), image_shape=cos(-image, -shape)))
        st.rng.set_state(state); st.sample_ws(1); sample_cameras(1, cfg.single_yaw, cfg.single_pitch, generator=st.rng)   # the next draw
        st.iteration += 1
    res['cosine'][name] = dict(image=sum(r['image'] for r in rows) / len(rows), shape=sum(r['shape'] for r in rows) / len(rows), rows=rows)
    print(name, {k: round(v, 4) for k, v in res['cosine'][name].items() if k != 'rows'}, flush=True)
    Path(a.out).write_text(json.dumps(res, indent=1) + '\n')
