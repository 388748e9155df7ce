"""Summarize the LD-mechanism runs (results/*.json, pilots left out): per style and rule, the metrics at matched style
(interpolated at the grading where the judge's style share first reaches --share), paired differences against SDS over seeds with
95% Student-t intervals, and the issue's pass test for classifier LD. Writes summary.json next to the results."""
import argparse, json, shlex, sys
from pathlib import Path
from headstyle.stats import mean_ci, paired_difference

p = argparse.ArgumentParser(description=__doc__)
p.add_argument('--results', default='experiments/ld_mechanism/results')
p.add_argument('--share', type=float, default=0.8, help='the style share at which rules are compared')
p.add_argument('--out', default='experiments/ld_mechanism/summary.json')
a = p.parse_args()
METRICS = ('id', 'id_other', 'retrieval', 'diversity', 'kid', 'fid', 'p_phi', 'delta_d')

def at_share(rows, share):
    "Each metric linearly interpolated at the first crossing of `share` by the style share; None if the run never reaches it."
    prev = None
    for r in rows:
        if r['style_share'] >= share:
            if prev is None or r['style_share'] == prev['style_share']: f = 1.
            else: f = (share - prev['style_share']) / (r['style_share'] - prev['style_share'])
            lo = prev or r
            return dict(iteration=lo['iteration'] + f * (r['iteration'] - lo['iteration']),
                        **{m: lo[m] + f * (r[m] - lo[m]) for m in METRICS if r.get(m) is not None and lo.get(m) is not None})
        prev = r
    return None

runs = [json.loads(f.read_text()) for f in sorted(Path(a.results).glob('*.json')) if not f.name.startswith('pilot')]
styles, rules = sorted({r['style'] for r in runs}), [k for k in ('sds', 'sds-authors', 'ld', 'classifier') if any(r['rule'] == k for r in runs)]
get = {(r['style'], r['rule'], r['seed']): r for r in runs}
out = dict(command='python ' + ' '.join(shlex.quote(x) for x in sys.argv) + '  (from the repository root)', share=a.share, styles={})
for s in styles:
    seeds = sorted({r['seed'] for r in runs if r['style'] == s})
    orig = {seed: get[k]['reference']['original'] for k in get if k[0] == s for seed in [k[2]]}
    st = out['styles'][s] = dict(seeds=seeds, original={m: mean_ci([orig[x].get(m) for x in seeds]) for m in ('diversity', 'id_cross', 'kid')}, rules={})
    matched = {}
    for rule in rules:
        m = matched[rule] = {seed: (at_share(get[(s, rule, seed)]['rows'], a.share) if (s, rule, seed) in get else None) for seed in seeds}
        last = {seed: get[(s, rule, seed)]['rows'][-1] for seed in seeds if (s, rule, seed) in get}
        st['rules'][rule] = dict(reached=sum(v is not None for v in m.values()), runs=len(last),
                                 matched={k: mean_ci([v[k] for v in m.values() if v is not None and k in v]) for k in ('iteration', *METRICS)},
                                 last={k: mean_ci([v.get(k) for v in last.values()]) for k in ('iteration', 'style_share', *METRICS)})
    for rule in rules:
        if rule == 'sds': continue
        pair = [(matched[rule][x], matched['sds'][x]) for x in seeds]
        st['rules'][rule]['minus_sds'] = {k: paired_difference([u[k] if u else None for u, v in pair], [v[k] if v else None for u, v in pair])
                                          for k in ('id', 'diversity', 'retrieval', 'kid')}
        st['rules'][rule]['id_wins'] = sum(1 for u, v in pair if u and v and u['id'] > v['id'])
if 'classifier' in rules and 'sds' in rules:
    per = {s: out['styles'][s]['rules']['classifier'] for s in styles}
    pairs = sum(len(out['styles'][s]['seeds']) for s in styles)
    wins = sum(per[s]['id_wins'] for s in styles)
    ci_ok = all((per[s]['minus_sds']['id']['ci'][0] or -1) > 0 for s in styles)
    div_ok = all(abs(per[s]['matched']['diversity']['mean'] - out['styles'][s]['original']['diversity']['mean']) <= 0.05
                 if per[s]['matched'].get('diversity') else False for s in styles)
    out['pass'] = dict(id_wins=f'{wins} of {pairs}', wins_ok=wins >= pairs - 1, id_interval_above_zero=ci_ok, diversity_within_005=div_ok)
Path(a.out).write_text(json.dumps(out, indent=1) + '\n')
print(json.dumps(out.get('pass'), indent=1))
