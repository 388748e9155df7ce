"""Train the shipped tiny prior's UNet and text encoder further, from its saved weights, with a chosen prompt-dropout rate.

Writes a diffusers folder per checkpoint (`<out>/<name>-<steps>`) and `<out>/<name>.json` with the settings and losses.
The VAE, scheduler and tokenizer stay the shipped ones; the ControlNets are not retrained.
"""
import argparse, json, time
from pathlib import Path
import torch
from headstyle.prior import load_prior
from headstyle.prior_train import cached_prior_data, Latents, train_unet

p = argparse.ArgumentParser(description=__doc__)
p.add_argument('--out', required=True, help='folder for the checkpoints (outside the repository)')
p.add_argument('--name', required=True, help='name of this candidate prior')
p.add_argument('--p-uncond', type=float, default=0.1, help='prompt-dropout rate (the shipped prior: 0.1)')
p.add_argument('--chunks', default='300,300', help='comma-separated steps of each chunk; a checkpoint after each')
p.add_argument('--lr', type=float, default=1.5e-4, help='peak learning rate of each chunk (train_prior\'s more_lr)')
p.add_argument('--n-single', type=int, default=1536); p.add_argument('--n-grid', type=int, default=256)
p.add_argument('--cache', default='/work/wt-ld-runs/cache', help='cached training renders')
p.add_argument('--seed', type=int, default=100)
a = p.parse_args()
torch.set_num_threads(1)
out = Path(a.out); out.mkdir(parents=True, exist_ok=True)
cache = Path(a.cache)
single = cached_prior_data(cache/f'single{a.n_single}.pt', n=a.n_single, seed=a.seed)
grid = cached_prior_data(cache/f'grid{a.n_grid}.pt', n=a.n_grid, grid=True, seed=a.seed + 1)
pipe = load_prior()
ls, lg = Latents.encode(pipe.vae, single), Latents.encode(pipe.vae, grid)
log = dict(vars(a), checkpoints={})
done = 0
for k, n in enumerate(int(s) for s in a.chunks.split(',')):
    t = time.time()
    losses = train_unet(pipe.unet, pipe.text_encoder, pipe.tokenizer, ls, lg, n, 32, lr=a.lr, p_uncond=a.p_uncond, seed=a.seed + 7 * k)
    done += n
    folder = out/f'{a.name}-{done}'
    pipe.save_pretrained(folder)
    log['checkpoints'][str(done)] = dict(folder=str(folder), seconds=time.time() - t, loss_last100=sum(losses[-100:]) / len(losses[-100:]))
    (out/f'{a.name}.json').write_text(json.dumps(log, indent=1))
    print(f'{a.name}: {done} extra steps, loss {log["checkpoints"][str(done)]["loss_last100"]:.4f}, {time.time() - t:.0f} s', flush=True)
