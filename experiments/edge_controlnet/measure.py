"""Is the edge ControlNet inert at 64 px? Canny threshold shares and the SDS-direction gate (issue 35, item 2).

1. On the shipped generator's frozen renders of N random identities at single-view training poses (the tiny preset's
   mapping, truncation and ray sampling, as `Stylizer.single_view_losses` renders them), for a grid of Canny threshold
   pairs (0-255 scale): the mean share of edge pixels per view and the share of views with no edge pixel; the pair
   nearest the target share. The same on the TinyHeads world's true renders: photo style at the same cameras, and
   the shipped edge ControlNet's own training distribution (`render_prior_data`: every style, 70% single-view yaws).
2. The gate: for K of those views, noise draws at fixed DDIM step indices, the cosine between the guide's SDS direction
   eps_hat - eps (CFG at the config's scale) with the shipped edge ControlNet and without it (the guide the stylizer
   builds when `single_control` is off: the same prior, no ControlNet), at today's thresholds, at the chosen pair,
   and with a blank (all-zero) edge map.

`--edge FOLDER` runs the gate with another edge ControlNet (its folder is recorded as `<folder>`, with its
`train_report.json` summary when train.py wrote one); `--gate-thresholds LOW HIGH` sets the gate's second Canny pair.

Writes a JSON file (with the command) and prints a table. No training, no library change.
"""
import argparse, json, math, os, shlex, sys, time
from pathlib import Path
import torch
import torch.nn.functional as F

def parse():
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--n', type=int, default=64, help='identities (one single view each) for the threshold grid')
    p.add_argument('--k', type=int, default=16, help='views (the first K of the N) for the gate')
    p.add_argument('--draws', type=int, default=3, help='noise draws per view and step')
    p.add_argument('--steps', type=int, nargs='+', default=[35, 40, 45], help='DDIM step indices (of 50) for the gate')
    p.add_argument('--prompts', nargs='+', default=['a werewolf'], help='target prompts of the gate')
    p.add_argument('--lows', type=float, nargs='+', default=[5, 10, 20, 30, 50], help='Canny low thresholds, 0-255 scale')
    p.add_argument('--highs', type=float, nargs='+', default=[15, 20, 30, 40, 60, 100, 150, 250], help='Canny high thresholds, 0-255 scale')
    p.add_argument('--target', type=float, default=0.10, help='target mean share of edge pixels per view')
    p.add_argument('--prior-views', type=int, default=None, help="views of the ControlNet's training distribution (default: --n)")
    p.add_argument('--seed', type=int, default=0, help='seeds identities, cameras and noise')
    p.add_argument('--out', default=str(Path(__file__).with_name('thresholds.json')), help='output JSON file')
    p.add_argument('--edge', default='edge', help="the edge ControlNet: 'edge' (the shipped one) or a folder (e.g. written by train.py)")
    p.add_argument('--gate-thresholds', type=float, nargs=2, default=None, metavar=('LOW', 'HIGH'),
                   help="Canny pair of the gate's second control (default: the pair nearest --target on the generator's renders)")
    return p.parse_args()

def shares(images, pairs):
    "Per pair: mean edge share per view, share of views with none, and the per-view shares' quartiles."
    from headstyle.guidance import canny
    res = []
    for lo, hi in pairs:
        s = canny(images, lo, hi)[:, 0].mean((1, 2))        # (N,) share of edge pixels per view
        res.append(dict(low=lo, high=hi, mean_share=s.mean().item(), no_edge_views=(s == 0).float().mean().item(),
                        median_share=s.median().item()))
    return res

def nearest(rows, target):
    return min(rows, key=lambda r: abs(r['mean_share'] - target))

def cos(a, b):
    "(B,) cosine of flattened rows."
    return F.cosine_similarity(a.flatten(1), b.flatten(1), dim=1)

def main():
    a = parse()
    torch.set_num_threads(1)
    torch.manual_seed(a.seed)
    t0 = time.time()
    from headstyle.generator import load_generator
    from headstyle.prior import load_prior, render_prior_data
    from headstyle.guidance import Guide, canny, latent_mask
    from headstyle.stylize import StylizeConfig, Stylizer
    from headstyle.cameras import sample_cameras
    from headstyle.world import random_latents, z_to_identity, render_heads

    cfg = StylizeConfig.preset('tiny', seed=a.seed).with_method('sds+controlnet')   # single view with the edge ControlNet, no grid
    pipe = load_prior(controlnet=a.edge)
    g_on = Guide.from_pipeline(pipe)                      # the shipped edge ControlNet; Stylizer rebuilds it with cfg's settings
    st = Stylizer(load_generator(), g_on, config=cfg)
    g_on = st.guide                                       # exactly the guide single_view_losses queries
    g_off = Guide(g_on.tokenizer, g_on.text_encoder, g_on.vae, g_on.unet, g_on.scheduler, None, cfg.guide_config())   # single_control off
    assert g_on.controlnet is not None and g_off.controlnet is None

    # renders: generator (frozen, SR image, as the stylizer's edge map) and the world's truth at the same cameras
    with torch.no_grad():
        ws = st.sample_ws(a.n)
        cams = sample_cameras(a.n, cfg.single_yaw, cfg.single_pitch, generator=st.rng)
        f = st.frozen.synthesis(ws, cams, **st.sampling)
        gen_img, gen_mask = f['image'].float().clamp(-1, 1), f['image_mask'].float()
        photo = render_heads(z_to_identity(random_latents(a.n, a.seed)), cams, 'photo')['image'].float()
        prior = render_prior_data(a.prior_views or a.n, seed=a.seed + 7).images.float()
    pairs = [(lo, hi) for lo in a.lows for hi in a.highs if lo < hi]
    grid = {'generator': shares(gen_img, pairs), 'world_photo': shares(photo, pairs), 'world_prior_data': shares(prior, pairs)}
    today = (cfg.canny_low, cfg.canny_high)
    if today not in pairs: grid = {k: v + shares(x, [today]) for (k, v), x in zip(grid.items(), (gen_img, photo, prior))}
    chosen = {k: nearest(v, a.target) for k, v in grid.items()}
    pick = tuple(a.gate_thresholds) if a.gate_thresholds else (chosen['generator']['low'], chosen['generator']['high'])
    pick_name = 'gate' if a.gate_thresholds else 'chosen'
    t1 = time.time()

    # the gate: SDS direction eps_hat - eps with and without the ControlNet, same latents, step, noise
    K = min(a.k, a.n)
    img, mask = gen_img[:K], gen_mask[:K]
    controls = {f'today {today[0]:g}/{today[1]:g}': canny(img, *today), f'{pick_name} {pick[0]:g}/{pick[1]:g}': canny(img, *pick),
                'blank': torch.zeros_like(img)}
    g = torch.Generator().manual_seed(a.seed + 1)
    gate = []
    with torch.no_grad():
        lat = g_on.encode(img)                             # posterior mean, as the stylizer (sample_posterior False)
        m = latent_mask(mask, lat.shape[-2:])              # the foreground weighting clean_grad applies
        for prompt in a.prompts:
            for step in a.steps:
                noises = [torch.randn(lat.shape, generator=g) for _ in range(a.draws)]
                off = [g_off(latents=lat, prompt=prompt, step=step, noise=e, decode=False).eps_hat - e for e in noises]
                for name, ctl in controls.items():
                    c_all, c_mask, rel = [], [], []
                    for e, d_off in zip(noises, off):
                        d_on = g_on(latents=lat, control=ctl, prompt=prompt, step=step, noise=e, decode=False).eps_hat - e
                        c_all.append(cos(d_on, d_off)); c_mask.append(cos(d_on * m, d_off * m))
                        rel.append((d_on - d_off).flatten(1).norm(dim=1) / d_off.flatten(1).norm(dim=1))
                    c_all, c_mask, rel = torch.cat(c_all), torch.cat(c_mask), torch.cat(rel)
                    gate.append(dict(prompt=prompt, step=step, control=name, edge_share=ctl[:, 0].mean().item(),
                                     cosine_mean=c_all.mean().item(), cosine_min=c_all.min().item(),
                                     cosine_masked_mean=c_mask.mean().item(), rel_change_mean=rel.mean().item(), n=len(c_all)))
    t2 = time.time()

    shipped = a.edge in ('edge', 'depth')
    argv = [x if shipped or x != a.edge else '<folder>' for x in sys.argv]
    args = dict(vars(a), out=os.path.relpath(a.out), **({} if shipped else dict(edge='<folder>')))
    if a.gate_thresholds is None: del args['gate_thresholds']   # at their defaults the new flags stay out: the committed run's args
    if a.edge == 'edge': del args['edge']
    res = dict(command=' '.join(['python'] + [shlex.quote(x) for x in argv]), args=args,   # no machine paths in results
               setup=dict(preset='tiny', method=cfg.method, guidance_scale=cfg.guidance_scale, canny_today=list(today),
                          render_samples=cfg.render_samples, truncation_psi=cfg.truncation_psi, image_side=gen_img.shape[-1],
                          cameras=dict(yaw=list(cfg.single_yaw), pitch=list(cfg.single_pitch)),
                          world_prior_data="render_prior_data(n, seed=seed+7): every style, 70% single-view yaws, 30% any yaw (the edge ControlNet's training distribution, fresh draws)",
                          gate_direction='eps_hat - eps (CFG), per view flattened over the 16x16x4 latent; masked: times the foreground mask at latent size',
                          gate_pass='mean cosine < 0.95'),
               shares=grid, chosen=chosen, chosen_pair=[chosen['generator']['low'], chosen['generator']['high']], gate=gate,
               seconds=dict(thresholds=round(t1 - t0, 1), gate=round(t2 - t1, 1)))
    if not shipped:
        res['edge_controlnet'] = '<folder>'
        rep = Path(a.edge)/'train_report.json'
        if rep.exists(): res['training'] = {k: v for k, v in json.loads(rep.read_text()).items() if k != 'losses'}
    Path(a.out).parent.mkdir(parents=True, exist_ok=True)
    Path(a.out).write_text(json.dumps(res, indent=1) + '\n')

    print(f"Canny edge share per view (mean / views with none), N={a.n}; target {a.target:.0%}")
    print(f"{'low/high':>9} | {'generator':>15} | {'world photo':>15} | {'prior data':>15}")
    for i, (lo, hi) in enumerate(pairs + ([today] if today not in pairs else [])):
        cells = [f"{grid[k][i]['mean_share']:6.1%} / {grid[k][i]['no_edge_views']:5.1%}" for k in grid]
        print(f"{lo:4g}/{hi:<4g} | " + ' | '.join(f"{c:>15}" for c in cells))
    print('nearest target:', {k: f"{v['low']:g}/{v['high']:g} ({v['mean_share']:.1%})" for k, v in chosen.items()})
    print(f"\nGate: cosine(SDS direction with ControlNet, without), K={K} views x {a.draws} draws")
    print(f"{'prompt':>12} {'step':>4} {'control':>16} {'edges':>6} {'cos':>6} {'min':>6} {'masked':>6} {'|diff|/|d|':>10}")
    for r in gate:
        print(f"{r['prompt']:>12} {r['step']:>4} {r['control']:>16} {r['edge_share']:6.1%} {r['cosine_mean']:6.3f} "
              f"{r['cosine_min']:6.3f} {r['cosine_masked_mean']:6.3f} {r['rel_change_mean']:10.3f}")
    print(f"\n{t1 - t0:.0f} s thresholds, {t2 - t1:.0f} s gate; wrote {a.out}")

if __name__ == '__main__': main()
