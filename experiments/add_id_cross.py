"""Add `id_cross` (different original heads among themselves, at the same view) to the committed sweep records, graded before it existed.

`id_cross` depends only on the original renders, and they only on a record's seed and identity count: `evaluate_runs` renders
the shipped generator at the five inference yaws for `run_latents(G, config, identities, seed)`, and every sweep system maps
its latents with the tiny preset's mapping fields (stylizer runs through their config, `edit2d` and StyleCLIP runs through
`StylizeConfig.preset('tiny')`; `ours-authors` uses 'tiny-authors', whose mapping fields are the same, checked below). So the
originals are rendered once per (seed, identities) and graded with `identity_reference`, the function `score_views` uses.
Before anything is written, the same renders are checked against each record's original row: its diversity, CLIP score and
style share are recomputed and must match. Trajectory records have no original row; each run's last trajectory record must
hold the `id` of its result record, which shows both were graded on the same originals.

Each record gets `id_cross` in `metrics` (and `original`, where the original row also gets id_other = id_cross and
retrieval = 1), and a sentence in its `regraded` note (trajectory.json: one note beside its `command`). A stylized run's
`id_other` and `retrieval` need its renders, which are not committed, so they stay absent. Records that already hold
`id_cross` are skipped, so the script can be stopped and run again.

    python experiments/add_id_cross.py [--dry-run] [--tolerance 1e-5]
"""
import argparse, functools, json, shlex, sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
p.add_argument('--dry-run', action='store_true', help='check and print, write nothing')
p.add_argument('--tolerance', type=float, default=1e-5, help="largest difference allowed between the original row's numbers and the recomputed ones")
a = p.parse_args()

import torch
torch.set_num_threads(1)
from headstyle.core import quiet_libraries
quiet_libraries()
from headstyle.cameras import INFERENCE_YAWS, INFERENCE_PITCH
from headstyle.evaluation import run_latents, MAPPING_FIELDS
from headstyle.experiments import SAME_COMMAND
from headstyle.metrics import Judges, generator_renders, identity_reference, identity_diversity, clip_score, style_share, prompt_styles
from headstyle.panohead import load_any_generator
from headstyle.stylize import StylizeConfig

TINY = StylizeConfig.preset('tiny')
judges, G = Judges.tiny(), load_any_generator(None)
_originals = {}

def originals(seed:int, identities:int)->torch.Tensor: # (5, identities, 3, H, W)
    "The original renders `evaluate_runs` grades a record of this seed and identity count against."
    if (seed, identities) not in _originals:
        _originals[seed, identities] = generator_renders(G, run_latents(G, TINY, identities, seed))['image']
    return _originals[seed, identities]

@functools.cache
def id_cross(seed:int, identities:int)->float:
    "`id_cross` of those originals, as `score_views` computes it over all five views."
    return identity_reference(judges.recognizer, originals(seed, identities))['id_cross'].mean().item()

def check_settings(rec:dict, where:str)->None:
    "Refuse a record graded in a way this script does not reproduce."
    s = rec['settings']
    argv = shlex.split(rec['command'])
    preset = argv[argv.index('--preset') + 1] if '--preset' in argv else 'tiny'
    bad = [k for k in MAPPING_FIELDS if getattr(StylizeConfig.preset(preset), k) != getattr(TINY, k)]
    if s['judges'].get('clip') != 'tiny' or s['judges'].get('arcface') != 'tiny' or s['id_views'] != 'all' or bad or \
       [round(y, 3) for y in s['yaws_deg']] != [round(y * 180 / torch.pi, 3) for y in INFERENCE_YAWS] or \
       round(s['pitch_deg'], 3) != round(INFERENCE_PITCH * 180 / torch.pi, 3) or s['identities'] != rec['identities']:
        sys.exit(f"{where}: graded with other settings (judges {s['judges']}, id_views {s['id_views']}, preset {preset}); not changed")

def check_original(rec:dict, x:torch.Tensor, where:str)->float:
    "The largest difference between the record's original row and the same numbers recomputed from `x`; exits above the tolerance."
    o, prompt = rec['original'], rec['settings']['prompt']
    cs = clip_score(judges, x.flatten(0, 1), prompt)
    mine = dict(diversity=identity_diversity(judges.recognizer, x).mean().item(), clip=cs['score'].mean().item(), clip_cosine=cs['cosine'].mean().item(),
                style_share=style_share(judges.clip, judges.tokenizer, x, prompt, prompt_styles(prompt)[0])[1])
    mine = {k: v for k, v in mine.items() if k in o}        # records graded before the style share lack it
    diff = max(abs(mine[k] - o[k]) for k in mine)
    if diff > a.tolerance:
        sys.exit(f"{where}: the original renders do not match the record (largest difference {diff:.2e}, "
                 f"recomputed {mine}, recorded { {k: o[k] for k in mine} }); not changed")
    return diff

def with_after(d:dict, key:str, new:dict)->dict:
    "`d` with `new`'s items inserted after `key` (the order `score_views` writes)."
    out = {}
    for k, v in d.items():
        if k not in new: out[k] = v
        if k == key: out.update(new)
    return out

def note(old:str|None, sentence:str)->str: return sentence if not old else f"{old}; {sentence}"

def write(path:Path, obj)->None:
    if a.dry_run: return
    tmp = path.with_name(f'.{path.name}.tmp')
    tmp.write_text(json.dumps(obj, indent=1)); tmp.replace(path)

results, done, added = {}, 0, 0
for path in sorted(HERE.glob('*/results/*.json')):
    rec, where = json.loads(path.read_text()), str(path.relative_to(HERE))
    results[rec['sweep'], rec['system'], rec['style'], rec['seed']] = rec
    if 'id_cross' in rec['metrics'] and 'id_cross' in rec['original']: done += 1; continue
    check_settings(rec, where)
    x = originals(rec['seed'], rec['identities'])
    diff = check_original(rec, x, where)
    c = id_cross(rec['seed'], rec['identities'])
    rec['metrics'] = with_after(rec['metrics'], 'id', dict(id_cross=c))
    rec['original'] = with_after(rec['original'], 'id', dict(id_other=c, id_cross=c, retrieval=1.0))
    rec['regraded'] = note(rec.get('regraded'), f"id_cross added later (experiments/add_id_cross.py) from the original renders alone, rendered "
                           f"again for seed {rec['seed']} and {rec['identities']} identities, whose diversity, CLIP score{' and style share' if 'style_share' in rec['original'] else ''} "
                           f"matched this record's original row within {a.tolerance:g}; id_other and retrieval need the run's renders, which are not kept")
    write(path, rec); added += 1
    print(f"{where}: id_cross {c:.4f} (original row matched within {diff:.1e})")

path = HERE/'ablation'/'trajectory.json'
traj = json.loads(path.read_text())
todo = [r for r in traj['records'] if 'id_cross' not in r['metrics']]
if todo:
    last = {}
    for r in traj['records']: last[r['system'], r['style'], r['seed']] = max(last.get((r['system'], r['style'], r['seed']), 0), r['iteration'])
    for r in traj['records']:
        if r['iteration'] != last[r['system'], r['style'], r['seed']]: continue
        res = results.get(('ablation', r['system'], r['style'], r['seed'])) or results.get(('table', SAME_COMMAND.get(r['system']), r['style'], r['seed']))
        if res is None or res['metrics']['id'] != r['metrics']['id'] or res['identities'] != 8:
            sys.exit(f"trajectory {r['system']} {r['style']} seed {r['seed']}: no result record graded on the same originals; not changed")
    for r in traj['records']:
        r['metrics'] = with_after(r['metrics'], 'id', dict(id_cross=id_cross(r['seed'], 8)))
    traj = with_after(traj, 'command', dict(regraded=note(traj.get('regraded'),
        "id_cross added later (experiments/add_id_cross.py) from the original renders alone, rendered again per seed for 8 identities; "
        "each run's last record holds the same id as its result record in results/, graded on those originals; "
        "id_other and retrieval need the runs' renders, which are not kept")))
    write(path, traj)
    print(f"ablation/trajectory.json: id_cross added to {len(todo)} records, " +
          ', '.join(f"seed {s} {originals_c:.4f}" for s, originals_c in sorted({(r['seed'], r['metrics']['id_cross']) for r in traj['records']})))
print(f"{'checked' if a.dry_run else 'wrote'} {added} result records ({done} already held id_cross)" + (', and trajectory.json' if todo else ''))
