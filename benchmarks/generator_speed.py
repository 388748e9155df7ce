"""Speed of the TinyHeads tri-plane generator's `synthesis` at batch 8, forward and forward+backward.

Absolute images/s depend on the machine, so every number is also given as a ratio against two
references measured in the same run: rendering the ground-truth TinyHeads world (64x64, no grad),
and a plain reference conv net (four 3x3 convolutions, 64 channels, on 64x64 images).

    python benchmarks/generator_speed.py [--threads 2] [--reps 5] [--random-weights]
"""
import argparse, time
import torch
import torch.nn as nn
from headstyle.cameras import sample_cameras, GRID_YAW, GRID_PITCH
from headstyle.world import random_latents, z_to_identity, render_heads
from headstyle.generator import TriPlaneGenerator, load_generator, GENERATOR_DIR

def rate(fn, batch, reps):
    "Images per second of fn() over reps calls after one warm-up call."
    fn()
    t0 = time.perf_counter()
    for _ in range(reps): fn()
    return batch * reps / (time.perf_counter() - t0)

def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--threads', type=int, default=2)
    ap.add_argument('--reps', type=int, default=5)
    ap.add_argument('--batch', type=int, default=8)
    ap.add_argument('--random-weights', action='store_true', help='use an untrained generator')
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    B = a.batch
    shipped = (GENERATOR_DIR / 'model.safetensors').exists() and not a.random_weights
    G = load_generator() if shipped else TriPlaneGenerator().eval()
    z, c = random_latents(B, 1), sample_cameras(B, GRID_YAW, GRID_PITCH, generator=torch.Generator().manual_seed(1))
    with torch.no_grad(): ws = G.mapping(z, c)

    def fwd():
        with torch.no_grad(): G.synthesis(ws, c)
    def fwd_bwd():
        G.zero_grad(set_to_none=True)
        G.synthesis(ws, c)['image'].square().mean().backward()
    ident = z_to_identity(z)
    def world(): render_heads(ident, c)
    net = nn.Sequential(nn.Conv2d(3, 64, 3, padding=1), nn.ReLU(), nn.Conv2d(64, 64, 3, padding=1), nn.ReLU(),
                        nn.Conv2d(64, 64, 3, padding=1), nn.ReLU(), nn.Conv2d(64, 3, 3, padding=1))
    x = torch.randn(B, 3, 64, 64)
    def conv_fwd():
        with torch.no_grad(): net(x)
    def conv_fwd_bwd():
        net.zero_grad(set_to_none=True); net(x).square().mean().backward()

    r = dict(fwd=rate(fwd, B, a.reps), fwd_bwd=rate(fwd_bwd, B, a.reps), world=rate(world, B, a.reps),
             conv_fwd=rate(conv_fwd, B, a.reps), conv_fwd_bwd=rate(conv_fwd_bwd, B, a.reps))
    n_conv = sum(p.numel() for p in net.parameters())
    print(f"generator: {'shipped weights' if shipped else 'random weights'}, {sum(p.numel() for p in G.parameters())/1e6:.2f}M parameters, "
          f"raw {G.neural_rendering_resolution}x{G.neural_rendering_resolution} x {G.n_samples} samples -> {G.img_resolution}x{G.img_resolution}; "
          f"batch {B}, {a.threads} threads, {a.reps} reps")
    print(f"reference: world render {r['world']:.1f} img/s; conv net ({n_conv/1e3:.0f}k params) fwd {r['conv_fwd']:.1f} img/s, fwd+bwd {r['conv_fwd_bwd']:.1f} img/s")
    print(f"synthesis forward:          {r['fwd']:7.1f} img/s = {r['fwd']/r['world']:.2f} x world render = {r['fwd']/r['conv_fwd']:.3f} x conv net fwd")
    print(f"synthesis forward+backward: {r['fwd_bwd']:7.1f} img/s = {r['fwd_bwd']/r['world']:.2f} x world render = {r['fwd_bwd']/r['conv_fwd_bwd']:.3f} x conv net fwd+bwd")

if __name__ == '__main__': main()
