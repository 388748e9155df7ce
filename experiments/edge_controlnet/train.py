"""Retrain the edge ControlNet on Canny maps at other thresholds (issue 35, item 2); the shipped one is not touched.

The shipped edge ControlNet's recipe (`train_prior` in headstyle/prior_train.py): `render_prior_data(6000, seed=0)`
single views, latents from the shipped VAE's posterior means, control `canny(images)` at 50/250, `train_controlnet`
with the shipped UNet and text encoder frozen, 1000 steps at batch 32, lr 3e-4, 10% prompt dropout. This script runs
the same pieces with the Canny thresholds as arguments (`control_images` has none), and saves the ControlNet with
`save_pretrained` to `--out` (keep it outside the repository: weights are not committed), with `train_report.json`:
the command, the loss at every step, and a fixed evaluation loss (256 training views, fixed timesteps and noise) of the
UNet alone (what the zero-initialised ControlNet starts from) and of the trained ControlNet.
"""
import argparse, json, shlex, sys, time
from pathlib import Path
import torch

def parse():
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--out', required=True, help='folder for the ControlNet (outside the repository)')
    p.add_argument('--low', type=float, default=10, help='Canny low threshold, 0-255 scale')
    p.add_argument('--high', type=float, default=20, help='Canny high threshold, 0-255 scale')
    p.add_argument('--n', type=int, default=6000, help='training renders (render_prior_data single views)')
    p.add_argument('--steps', type=int, default=1000, help='optimiser steps')
    p.add_argument('--batch-size', type=int, default=32)
    p.add_argument('--lr', type=float, default=3e-4)
    p.add_argument('--seed', type=int, default=0, help='seeds the renders, the ControlNet init and training')
    p.add_argument('--cache', default=None, help='.pt file caching the renders (cached_prior_data); default: none')
    p.add_argument('--render-only', action='store_true', help='render (into --cache) and stop')
    p.add_argument('--eval-n', type=int, default=256, help='training views of the fixed evaluation loss')
    p.add_argument('--threads', type=int, default=1, help='torch CPU threads')
    return p.parse_args()

@torch.no_grad()
def eval_loss(unet, te, tok, lat, controls, idx, seed, controlnet=None, batch=32):
    "Mean noise-prediction loss on views `idx` with timesteps, noise and prompts fixed by `seed` (no prompt dropout)."
    from headstyle.prior_train import denoise_loss
    g, tot = torch.Generator().manual_seed(seed), 0.
    for s in range(0, len(idx), batch):
        i = idx[s:s + batch]
        tot += len(i) * denoise_loss(unet, te, tok, lat.mean[i], [lat.prompts[k] for k in i], g,
                                     controlnet, controls[i].float() if controlnet is not None else None).item()
    return tot / len(idx)

def main():
    a = parse()
    torch.set_num_threads(a.threads)
    from headstyle.prior import load_prior, render_prior_data, make_controlnet
    from headstyle.prior_train import Latents, train_controlnet, cached_prior_data
    from headstyle.guidance import canny
    t0 = time.time()
    data = cached_prior_data(a.cache, n=a.n, seed=a.seed) if a.cache else render_prior_data(a.n, seed=a.seed)   # train_prior's single views
    t1 = time.time()
    if a.render_only: return print(f'{t1 - t0:.0f} s rendering {a.n} views')
    pipe = load_prior()                                   # the shipped VAE, text encoder, UNet the shipped ControlNet was trained against
    unet, te, tok = pipe.unet, pipe.text_encoder, pipe.tokenizer
    lat = Latents.encode(pipe.vae, data)
    controls = canny(data.images.float(), a.low, a.high)  # (N, 3, 64, 64) in {0, 1}
    torch.manual_seed(a.seed)
    cn = make_controlnet(unet)
    idx = torch.randperm(a.n, generator=torch.Generator().manual_seed(a.seed + 2))[:a.eval_n]
    before = eval_loss(unet, te, tok, lat, controls, idx, a.seed + 3)
    t2 = time.time()
    losses = train_controlnet(cn, unet, te, tok, lat, controls, a.steps, a.batch_size, a.lr, seed=a.seed)
    t3 = time.time()
    after = eval_loss(unet, te, tok, lat, controls, idx, a.seed + 3, controlnet=cn)
    out = Path(a.out); cn.save_pretrained(out)
    k = min(100, len(losses))
    argv = ['<folder>' if x == a.out else '<cache>' if x == a.cache else x for x in sys.argv]   # no machine paths
    rep = dict(command=' '.join(['python'] + [shlex.quote(x) for x in argv]),
               args=dict(vars(a), out='<folder>', cache=a.cache and '<cache>'),
               edge_share=controls[:, 0].mean().item(), steps=a.steps,
               loss_first=sum(losses[:k]) / k, loss_last=sum(losses[-k:]) / k, loss_mean_over=k,
               eval_loss_unet_alone=before, eval_loss_trained=after, eval_n=len(idx),
               seconds=dict(render=round(t1 - t0, 1), train=round(t3 - t2, 1)), losses=losses)
    (out/'train_report.json').write_text(json.dumps(rep, indent=1) + '\n')
    print(f"edge share {rep['edge_share']:.1%}; loss first/last {k}: {rep['loss_first']:.4f} -> {rep['loss_last']:.4f}; "
          f"eval loss UNet alone {before:.4f}, trained {after:.4f}; {t3 - t2:.0f} s training; wrote {out}")

if __name__ == '__main__': main()
