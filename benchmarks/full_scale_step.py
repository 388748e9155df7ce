"""Seconds per iteration, peak memory and the share of each stage of the `paper` preset at Stable Diffusion 1.5's sizes.

The prior is built with SD1.5's configs (UNet, 8x VAE, CLIP text encoder, edge and depth ControlNets) and random
weights; the generator is a stand-in until PanoHead lands: the TinyHeads tri-plane generator with a 64x64 raw render
whose output is upsampled to 512x512, so the prior sees the paper's 512x512 views and 64x64 latents. Stages are timed by
wrapping the calls (renders, VAE encode, UNet + ControlNet, VAE decode, backward); every number is also a share of the
iteration measured in the same run.

    python benchmarks/full_scale_step.py --scale small                     # narrowed models, any CPU, under a minute
    python benchmarks/full_scale_step.py --scale full --device cuda --dtype bf16 --iters 10
    python benchmarks/full_scale_step.py --scale medium --backward-per-view # the cheaper order: each view's graph freed
    python benchmarks/full_scale_step.py --count-flops                      # full-size FLOPs per stage, on the meta device
"""
import argparse, json, resource, sys, tempfile, time
from collections import defaultdict
import torch
import torch.nn.functional as F
from headstyle.generator import TriPlaneGenerator
from headstyle.guidance import Guide, ddim_scheduler
from headstyle.prior import build_tokenizer
from headstyle.stylize import Stylizer, StylizeConfig
from headstyle.fullscale import sd15_models, resolve_device, resolve_dtype, place_guide

SCALES = {'full': dict(prior=dict(), gen=dict(neural_rendering_resolution=64), image=512, grid_tile=256),
          'medium': dict(prior=dict(width=64, vae_width=32, text_width=128, text_layers=4, heads=4),
                         gen=dict(w_dim=64, channels=(64, 64, 64, 64), plane_channels=16, features=8, sr_channels=16,
                                  neural_rendering_resolution=32), image=512, grid_tile=256),
          'small': dict(prior=dict(width=8, vae_width=8, text_width=32, text_layers=2, heads=2),
                        gen=dict(w_dim=32, channels=(32, 32, 32), plane_channels=8, features=8, sr_channels=8,
                                 neural_rendering_resolution=16, n_samples=12), image=128, grid_tile=64)}

class UpsampledGenerator(TriPlaneGenerator):
    "The tri-plane generator with its image upsampled to `out_size`: PanoHead's output size, for the prior's cost."
    def __init__(self, out_size:int=512, **kw):
        super().__init__(**kw); self.out_size = self.img_resolution = out_size
    def synthesis(self, ws, c, **kw):
        r = super().synthesis(ws, c, **kw)
        if 'image' not in r: return r                    # stopped before super-resolution
        return dict(r, image=F.interpolate(r['image'], size=(self.out_size,) * 2, mode='bilinear', align_corners=False))

def build(scale:str, device, dtype, config:StylizeConfig):
    "The stylizer of a paper-preset run at the given scale, on a device, the prior in `dtype`."
    s = SCALES[scale]
    tok = build_tokenizer(['a photo of a person', 'a marble statue'], tempfile.mkdtemp())
    te, vae, unet, cn_edge = sd15_models(tok, **s['prior'])
    _, _, _, cn_depth = sd15_models(tok, **s['prior'], seed=1)
    guides = [place_guide(Guide(tok, te, vae, unet, ddim_scheduler(), cn), device, dtype) for cn in (cn_edge, cn_depth)]
    torch.manual_seed(0)
    G = UpsampledGenerator(s['image'], **s['gen']).to(device)
    return Stylizer(G, *guides, config)

def instrument(st:Stylizer, sync)->dict:
    "Wrap the stages' calls with timers; returns the dict of seconds by stage that they add to."
    T = defaultdict(float)
    def timed(obj, name, key):
        fn = getattr(obj, name)
        def wrapper(*a, **kw):
            sync(); t = time.perf_counter(); r = fn(*a, **kw); sync(); T[key] += time.perf_counter() - t
            return r
        setattr(obj, name, wrapper)
    for G in (st.G, st.frozen): timed(G, 'synthesis', 'renders')
    for g in {id(st.guide): st.guide, id(st.guide_grid): st.guide_grid}.values():
        timed(g, 'encode', 'VAE encode'); timed(g, 'predict', 'UNet + ControlNet'); timed(g, 'decode', 'VAE decode')
    backward = torch.Tensor.backward
    def timed_backward(self, *a, **kw):
        sync(); t = time.perf_counter(); backward(self, *a, **kw); sync(); T['backward'] += time.perf_counter() - t
    torch.Tensor.backward = timed_backward
    return T

def count_flops(config:StylizeConfig)->dict:
    "Forward FLOPs of one paper-preset iteration's prior calls at SD1.5's sizes, counted on the meta device."
    from torch.utils.flop_counter import FlopCounterMode
    tok = build_tokenizer(['a photo of a person', 'a marble statue'], tempfile.mkdtemp())
    with torch.device('meta'): te, vae, unet, cn = sd15_models(tok)
    g = Guide(tok, te, vae, unet, ddim_scheduler(), cn)
    single, grid = torch.zeros(2, 3, 512, 512, device='meta'), torch.zeros(1, 3, 512, 512, device='meta')
    out = {}
    def flops(key, fn):
        with FlopCounterMode(display=False) as fc: fn()
        out[key] = fc.get_total_flops()
    flops('VAE encode (2 single views + 1 grid)', lambda: (g.encode(single), g.encode(grid)))
    lat = torch.zeros(1, 4, 64, 64, device='meta'); t = torch.tensor([500]); e = torch.zeros(1, 77, 768, device='meta')
    ctl = torch.zeros(1, 3, 512, 512, device='meta')
    flops('UNet + ControlNet (single + grid, CFG batch 2 each)', lambda: [g.predict(lat, t, e[:, :tok.model_max_length], e[:, :tok.model_max_length], ctl) for _ in range(2)])
    flops('VAE decode (Tweedie estimate of the single view)', lambda: g.decode(lat))
    return out

def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--scale', choices=SCALES, default='small')
    ap.add_argument('--device', default='cpu')
    ap.add_argument('--dtype', default='fp32', choices=('fp32', 'fp16', 'bf16'))
    ap.add_argument('--iters', type=int, default=3, help='timed iterations (after one warm-up)')
    ap.add_argument('--threads', type=int, default=0, help='CPU threads (0: torch default)')
    ap.add_argument('--backward-per-view', action='store_true', help="backward each view's losses at once")
    ap.add_argument('--count-flops', action='store_true', help='count full-size FLOPs per stage on the meta device instead')
    ap.add_argument('--json', help='also write the results to this JSON file')
    a = ap.parse_args(argv)
    if a.threads: torch.set_num_threads(a.threads)
    cfg = StylizeConfig.preset('paper', prompt='a marble statue', perceptual_weight=0., backward_per_view=a.backward_per_view,
                               grid_tile=SCALES[a.scale]['grid_tile'])
    if a.count_flops:
        res = dict(flops=count_flops(cfg))
        for k, v in res['flops'].items(): print(f'{k:52s} {v / 1e12:8.2f} TFLOP')
    else:
        device, dtype = resolve_device(a.device), resolve_dtype(a.dtype)
        sync = (lambda: torch.cuda.synchronize(device)) if device.type == 'cuda' else (lambda: None)
        st = build(a.scale, device, dtype, cfg)
        st.step()                                                                   # warm-up: allocations, embeddings
        if device.type == 'cuda': torch.cuda.reset_peak_memory_stats(device)
        T = instrument(st, sync)
        sync(); t0 = time.perf_counter()
        for _ in range(a.iters): st.step()
        sync(); total = (time.perf_counter() - t0) / a.iters
        stages = {k: v / a.iters for k, v in T.items()}
        stages['other'] = total - sum(stages.values())
        peak = (torch.cuda.max_memory_allocated(device) / 2 ** 30 if device.type == 'cuda'
                else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2 ** 20)
        res = dict(scale=a.scale, device=str(device), dtype=a.dtype, backward_per_view=a.backward_per_view, iters=a.iters,
                   seconds_per_iteration=total, peak_gib=peak,
                   peak_kind='torch.cuda.max_memory_allocated' if device.type == 'cuda' else 'peak RSS of the process',
                   stages={k: dict(seconds=v, share=v / total) for k, v in stages.items()})
        print(f"{a.scale} scale, {device}, {a.dtype}{', backward per view' if a.backward_per_view else ''}: "
              f"{total:.3f} s per iteration, peak {peak:.2f} GiB ({res['peak_kind']})")
        for k, v in res['stages'].items(): print(f"  {k:20s} {v['seconds']:8.3f} s  {v['share']:6.1%}")
    if a.json:
        with open(a.json, 'w') as f: json.dump(res, f, indent=1)
    return 0

if __name__ == '__main__': sys.exit(main())
