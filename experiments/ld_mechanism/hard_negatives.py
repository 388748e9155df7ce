"""A round of hard negatives for the explicit style classifier: render the generators a classifier-LD run made (its checkpoints),
label those renders 'photo', train a new classifier with them and the palette-matched negatives, and write its report and its
CFG-matched scales (scales.json) into --out."""
import argparse, json, shlex, sys
from pathlib import Path
import torch
from safetensors.torch import load_file

p = argparse.ArgumentParser(description=__doc__)
p.add_argument('--runs', nargs='+', required=True, help="run folders of classifier-LD runs (experiments/ld_mechanism/runs/<name>)")
p.add_argument('--iters', default='180,240,300,360', help='checkpoints whose generators are rendered')
p.add_argument('--n', type=int, default=40, help='identities rendered per checkpoint (one random single-view camera each)')
p.add_argument('--out', required=True, help='folder of the new classifier')
p.add_argument('--seed', type=int, default=0)
a = p.parse_args()
torch.set_num_threads(1)
from headstyle.core import quiet_libraries
quiet_libraries()
from headstyle.generator import load_generator
from headstyle.cameras import sample_cameras
from headstyle.prior import load_prior
from headstyle.classifier import train_style_classifier, cfg_matched_scales, report_table

G, imgs, used = load_generator(), [], []
for run in a.runs:
    for it in map(int, a.iters.split(',')):
        ck = Path(run)/'checkpoints'/f'it{it:06d}'/'model.safetensors'
        if not ck.is_file(): sys.exit(f"no checkpoint at {ck}: run the classifier-LD run to {it} iterations first")
        G.load_state_dict(load_file(str(ck)))
        g = torch.Generator().manual_seed(a.seed + 100 + it)
        z, cams = torch.randn(a.n, G.z_dim, generator=g), sample_cameras(a.n, generator=g)
        with torch.no_grad(): imgs.append(G.synthesis(G.mapping(z, cams, truncation_psi=0.75), cams)['image'].clamp(-1, 1))
        used.append(f'{Path(run).name}/it{it:06d}')
pipe = load_prior()
model, rep = train_style_classifier(a.out, palette=True, negatives=torch.cat(imgs), seed=a.seed, pipe=pipe, progress=False)
(Path(a.out)/'scales.json').write_text(json.dumps(cfg_matched_scales(model, pipe), indent=1) + '\n')
rep.update(command='python ' + ' '.join(shlex.quote(x) for x in sys.argv) + '  (from the repository root)', negatives_from=used)
(Path(a.out)/'report.json').write_text(json.dumps(rep, indent=1) + '\n')
print(report_table(rep))
