"""Every result the README states, read again from the committed file it comes from.

README.md is generated from nbs/index.ipynb, where its numbers are typed by hand. Each entry of `CLAIMS` is a README
phrase (a regex whose groups are the numbers it shows), the file the numbers come from, and how to read them there; a
number shown with d decimals must be its source rounded to d decimals, and a count must be equal. Every number in the
README (digits anywhere outside code, number words in its prose) must be a group of a claim or sit in a `NOT_RESULTS`
phrase, so a new result in the README needs its source here before the suite passes. `NO_SOURCE` lists the results that
no committed file holds; `test_numbers_without_a_source` reports them as an expected failure until they get one.
"""
import functools, inspect, json, math, re
from dataclasses import dataclass
from statistics import median
from typing import Callable

import pytest
from conftest import ROOT

README = (ROOT/'README.md').read_text(encoding='utf-8')
WORDS = dict(none=0, two=2, three=3, four=4, five=5, six=6, seven=7, eight=8, nine=9, ten=10, eleven=11, twelve=12,
             twenty=20, first=1, second=2, third=3, fourth=4, fifth=5)

# ---- reading the sources

@functools.cache
def js(path:str): return json.loads((ROOT/path).read_text(encoding='utf-8'))

@functools.cache
def stored_output(nb:str, cell_id:str)->str:
    "The text a notebook cell's stored outputs show."
    cell = next(c for c in json.loads((ROOT/'nbs'/nb).read_text(encoding='utf-8'))['cells'] if c.get('id') == cell_id)
    out = []
    for o in cell.get('outputs', []):
        out.append(''.join(o.get('text', '')) or ''.join(o.get('data', {}).get('text/plain', '')))
    return ''.join(out)

def xp():
    import headstyle.experiments
    return headstyle.experiments

def demo(): return js('benchmarks/results/demo_time.json')
def default_demos(): return [r for r in demo()['runs'] if r['command'] == 'headstyle demo --out OUT']
def course(): return js('benchmarks/results/course_time.json')
def other_demos(): return [r for r in demo()['runs'] if r['command'] != 'headstyle demo --out OUT']

def _pair(full_wins:bool)->dict|None:
    "The one other prompt/seed demo in which the full method keeps more identity than SDS (or less), or None."
    rs = [r for r in other_demos() if r['full_keeps_more_identity'] == full_wins]
    return rs[0] if len(rs) == 1 else None

def pair_seed(full_wins:bool):
    r = _pair(full_wins)
    return int(re.search(r'--seed (\d+)', r['command'])[1]) if r else None

def pair_prompt(full_wins:bool):
    r = _pair(full_wins)
    return re.search(r'--prompt (.*) --seed', r['command'])[1] if r else None

def table(): return js('experiments/table/summary.json')

def demo_default(name):
    from headstyle.demo import run_demo
    return inspect.signature(run_demo).parameters[name].default

@functools.cache
def ablation_records()->tuple:
    "The ablation's run records as `17_experiments` reads them: its own runs plus the table's runs of the `full` row."
    from headstyle.experiments import borrow_rows, load_results
    recs = borrow_rows(load_results(ROOT/'experiments'/'ablation'), load_results(ROOT/'experiments'/'table'))
    return tuple(r for r in recs if r['style'] in ('werewolf', 'pixar'))

def ablation():
    from headstyle.experiments import summarize
    return summarize(list(ablation_records()))

def trajectory(): return js('experiments/ablation/trajectory.json')['records']

def one(values):
    "The single value that every item of `values` has (None if they differ, which then matches no number)."
    return values[0] if values and all(v == values[0] for v in values) else None

def percent(x): return None if x is None else 100 * x

def table_ranks():
    from headstyle.experiments import ranks
    return ranks(table()['cells'])

def ld_gaps()->dict:
    "06b_ld_prior's stored LD-minus-SDS gaps on werewolf at matched style: prior -> rule -> the seeds' gaps."
    out = {}
    for line in stored_output('06b_ld_prior.ipynb', 'b009a').splitlines():
        if not re.match(r'\S+\s+werewolf\s', line): continue
        for r, seeds in re.findall(r"LD - (SDS|authors' SDS)\s+\S+ \(.*\) \[([^\]]+)\]", line):    # one line per prior and rule
            out.setdefault(line.split()[0], {})[r] = [float(x) for x in seeds.split(',')]
    return out



def pair_id()->dict: return demo()['comparison']['full_minus_sds_id']

@functools.cache
def presets()->dict:
    from headstyle.stylize import PRESETS
    return PRESETS

def authors_weights()->dict:
    from headstyle.stylize import AUTHORS_WEIGHTS
    return AUTHORS_WEIGHTS

def term_share(preset:str, row:str)->float:
    "10_stylize's stored share of the Tweedie terms in a preset's row's gradient (the 'Tweedie' column)."
    lines = stored_output('10_stylize.ipynb', 'c044').splitlines()
    head = lines[0].split()
    line = next(l for l in lines[1:] if l.split()[:2] == [preset, row])
    return float(line.split()[head.index('Tweedie')])

def matched_comparisons()->int:
    "The number of (prior, style, seed) rows of 06b_ld_prior's matched-style table."
    return sum(1 for l in stored_output('06b_ld_prior.ipynb', 'b009').split('\n\n')[0].splitlines()[1:] if l.strip())

def ld_gap_highs()->list:
    "Upper ends of the 95% intervals of LD's deficit, over the prior/rule pairs with three werewolf seeds (06b's stored output)."
    return [float(h) for h in re.findall(r"werewolf.*LD - .*95% interval \S+ to (\S+), n = 3,", stored_output('06b_ld_prior.ipynb', 'b009a'))]

def clear_against_best()->tuple:
    "(p threshold, cells where ours' gap to the best is clear, cells) from 17_experiments' stored paired comparisons."
    m = re.search(r"against the best: p < (\d\.\d+) in (\d+) of (\d+)", stored_output('17_experiments.ipynb', 'x036r'))
    return (float(m[1]), int(m[2]), int(m[3])) if m else (None, None, None)

def order(style:str, metric:str)->dict:
    from headstyle.experiments import order_test
    return order_test(ablation(), metric, style)

def ld_vs_sds(style:str)->dict:
    "ld+controlnet minus sds+controlnet in ID, paired by seed (the ablation's records)."
    from headstyle.stats import paired_difference
    recs = {(r['system'], r['seed']): r['metrics']['id'] for r in ablation_records() if r['style'] == style}
    seeds = sorted(k for s, k in recs if s == 'ld+controlnet')
    return paired_difference([recs['ld+controlnet', k] for k in seeds], [recs['sds+controlnet', k] for k in seeds])

# ---- the claims

@dataclass
class Claim:
    readme:str      # regex on README.md; its groups are the numbers shown (digits, or a number word)
    source:str      # the committed file(s) the numbers come from
    values:Callable # match -> the source's value of each group, in the README's unit
    holds:Callable = None  # match -> whether what the phrase says around the numbers holds in the source

CLAIMS = [
    Claim(r"measures on (eight) fixed identities", 'nbs/16a_demo.ipynb (run_demo)', lambda m: [demo_default('identities')]),
    Claim(r"With its defaults \(werewolf, seed (\d+)\) the `full` row keeps more of each head than `sds` \(id (\d\.\d+) against (\d\.\d+), "
          r"where different original heads score (\d\.\d+) with each other; retrieval (\d+%) against (\d+%), chance (\d+\.\d%)\), and `sds` does not pull "
          r"the heads together \(diversity (\d\.\d+) against (\d\.\d+);",
          'benchmarks/results/demo_time.json (the default demo runs)',
          lambda m: [demo_default('seed')] + [one([r['results'][k][q] for r in default_demos()]) for k, q in (('full', 'id'), ('sds', 'id'))]
                    + [one([r['results'][k]['id_cross'] for r in default_demos() for k in ('full', 'sds')])]
                    + [percent(one([r['results'][k]['retrieval'] for r in default_demos()])) for k in ('full', 'sds')]
                    + [percent(1 / demo_default('identities'))]
                    + [one([r['results'][k]['diversity'] for r in default_demos()]) for k in ('sds', 'full')],
          lambda m: demo_default('prompt') == 'a werewolf' and all(r['full_keeps_more_identity'] and not r['full_more_diverse']
                                                                   for r in default_demos())),
    Claim(r"(\d\.\d+) before stylization\)", "benchmarks/results/demo_time.json (the default demo runs' original heads)",
          lambda m: [one([r['results']['original']['diversity'] for r in default_demos()])]),
    Claim(r"with both judged werewolves \(`full`'s views (\d+%), `sds`'s (\d+%)\)", 'benchmarks/results/demo_time.json',
          lambda m: [percent(one([r['results'][k]['style'] for r in default_demos()])) for k in ('full', 'sds')]),
    Claim(r"over the (\w+) prompt/seed pairs `benchmarks/demo_time.py` runs, `full` minus `sds` in id is ([+-]\d\.\d+) \(95% interval "
          r"([+-]?\d\.\d+) to ([+-]?\d\.\d+), paired Student t over n = (\d+) pairs, p = (\d\.\d+)\), and `full` keeps more identity on the defaults "
          r"and on a pixar character, seed (\d+), less on a werewolf, seed (\d+)", 'benchmarks/results/demo_time.json (comparison)',
          lambda m: [len(demo()['comparison']['pairs'])] + [pair_id()[k] for k in ('mean',)] + list(pair_id()['ci'])
                    + [pair_id()['n'], pair_id()['p'], pair_seed(True), pair_seed(False)],
          lambda m: pair_prompt(True) == 'a pixar character' and pair_prompt(False) == 'a werewolf' and all(r['style_ok'] for r in demo()['runs'])
                    and pair_id()['ci'][0] < 0 < pair_id()['ci'][1]
                    and all(set(r['differences']) == {'rule', 'single_control', 'rank_weighting', 'grid', 'grid_control'} for r in demo()['runs'])),
    Claim(r"Tweedie-heavy \(weight (\d+) where the authors use (\d\.\d+)\)", 'nbs/10_stylize.ipynb (PRESETS, AUTHORS_WEIGHTS)',
          lambda m: [presets()['tiny']['tweedie_weight'], authors_weights()['tweedie_weight']]),
    Claim(r"the Tweedie terms make (\d\.\d+) of the summed term-gradient norms of the `full` row and (\d\.\d+) of the `sds` row's", 'nbs/10_stylize.ipynb (stored output)',
          lambda m: [term_share('tiny', 'full'), term_share('tiny', 'sds')]),
    Claim(r"The (\w+) runs train at once on (\w+) cores; on this project's (\d+)-core machine the demo takes under (\w+) minutes "
          r"\(median (\d+) s of (\w+) runs from a fresh install; the (\w+), which also renders and keeps the style's reference set, (\d+) s;",
          'benchmarks/results/demo_time.json',
          lambda m: [len(demo_default('methods')), demo()['cpus'], demo()['cpus'], math.ceil(demo()['median_wall_s'] / 60),
                     demo()['median_wall_s'], len(default_demos()),
                     1 + [r['reference'] for r in default_demos()].index('rendered'), default_demos()[0]['wall_s']],
          lambda m: demo()['median_wall_s'] == median(r['wall_s'] for r in default_demos())
                    and all(set(r['results']) - {'original'} == set(demo_default('methods')) for r in demo()['runs'])),
    Claim(r"likelihood distillation on its own keeps \*less\* identity than either SDS rule at matched style, on every prior tried, in every one "
          r"of the (\d+) comparisons \((\w+) seeds each on werewolf; paired over the seeds, LD's deficit has a 95% interval below zero for (\w+) "
          r"of the (\w+) prior/rule pairs\)", 'nbs/06b_ld_prior.ipynb (stored outputs)',
          lambda m: [matched_comparisons(), one([len(g) for rules in ld_gaps().values() for g in rules.values()]),
                     sum(hi < 0 for hi in ld_gap_highs()), len(ld_gap_highs())],
          lambda m: ld_gaps() and all(x < 0 for rules in ld_gaps().values() for g in rules.values() for x in g)),
    Claim(r"The paper's (\w+) baselines", 'nbs/17_experiments.ipynb (PAPER_TABLE)',
          lambda m: [len(xp().PAPER_TABLE) - 1]),
    Claim(r"its (\w+) systems and ours with the authors' loss weights, (\w+) styles, (\w+) seeds, (\d+) runs, (\d+\.\d+) h of runs "
          r"and grading summed over runs", 'experiments/table/summary.json',
          lambda m: [len(set(table()['cells']) - {'ours-authors'}), one([len(v) for v in table()['cells'].values()]),
                     one([c['n'] for v in table()['cells'].values() for c in v.values()]), table()['runs'], table()['wall_s'] / 3600],
          lambda m: 'ours-authors' in table()['cells']),
    Claim(r"ours is (\w+) in (\w+) of the (\d+) cells, where the paper puts it (\w+) in (\d+), and (\w+) in every FID, CLIP and ΔD column; "
          r"paired by seed, its gap to each cell's best system is clear \(p < (\d\.\d+)\) in (\d+) of the (\d+)",
          'experiments/table/summary.json and the paper\'s table in nbs/17_experiments.ipynb (ranks); 17\'s stored paired comparisons',
          lambda m: [WORDS.get(m[1]), sum(a == WORDS.get(m[1]) for a, _ in table_ranks().values()), len(table_ranks()),
                     WORDS.get(m[4]), sum(b == WORDS.get(m[4]) for _, b in table_ranks().values()),
                     one([a for (_, k), (a, _) in table_ranks().items() if k in ('fid', 'clip', 'delta_d')])] + list(clear_against_best())),
    Claim(r"\(pixar FID (\d\.\d+) and (\d\.\d+) against (\d\.\d+) for ours;", 'experiments/table/summary.json',
          lambda m: [table()['cells'][k]['pixar']['fid']['mean'] for k in ('instantid', 'instructpix2pix', 'ours')]),
    Claim(r"\(pixar ID (\d\.\d+) and (\d\.\d+) against (\d\.\d+), where different original heads score (\d\.\d+) with each other;", 'experiments/table/summary.json',
          lambda m: [table()['cells'][k]['pixar']['id']['mean'] for k in ('instantid', 'styleclip', 'ours')]
                    + [one([round(c['pixar']['id_cross']['mean'], 9) for c in table()['cells'].values()])]),
    Claim(r"The ablation \(its (\w+) rows on werewolf and pixar, (\w+) seeds each", 'experiments/ablation/ (results, and the table\'s ours runs)',
          lambda m: [len({r['system'] for r in ablation_records()}), one([c['n'] for v in ablation().values() for c in v.values()])],
          lambda m: {r['system'] for r in ablation_records()} == set(xp().ABLATION)),
    Claim(r"follows the paper's order on identity and diversity on pixar \(Kendall's tau ([+-]\d\.\d+) for both, exact one-sided p = (\d\.\d+) "
          r"over (\w+) rows\); on werewolf the data cannot tell \(ID ([+-]\d\.\d+), p = (\d\.\d+)\)", 'experiments/ablation/ (results, order_test)',
          lambda m: [one([order('pixar', k)['tau'] for k in ('id', 'diversity')]), one([order('pixar', k)['p'] for k in ('id', 'diversity')]),
                     one([order(s, k)['rows'] for s in ('pixar', 'werewolf') for k in ('id', 'diversity')]),
                     order('werewolf', 'id')['tau'], order('werewolf', 'id')['p']],
          lambda m: order('werewolf', 'id')['p'] > 0.05),
    Claim(r"whether LD beats SDS with the edge ControlNet cannot be told on either style \(pixar ([+-]\d\.\d+), p = (\d\.\d+); werewolf ([+-]\d\.\d+), p = (\d\.\d+)\)",
          'experiments/ablation/ (results, paired by seed)',
          lambda m: [v for s in ('pixar', 'werewolf') for v in (ld_vs_sds(s)['mean'], ld_vs_sds(s)['p'])],
          lambda m: all(ld_vs_sds(s)['p'] > 0.05 for s in ('pixar', 'werewolf'))),
    Claim(r"(?m)^\| `(?P<nb>\w+)` \|.*\| (\d+) s \|$", 'benchmarks/results/course_time.json (one row per notebook)',
          lambda m: [course()['notebooks'].get(m['nb'], {}).get('seconds')],
          lambda m: course()['notebooks'][m['nb']]['passed']),
    Claim(r"one notebook at a time with (\d+) threads on this project's (\d+)-core machine", 'benchmarks/results/course_time.json',
          lambda m: [course()['threads'], course()['cpus']]),
    Claim(r"(\d+) s for the whole course", 'benchmarks/results/course_time.json',
          lambda m: [course()['total_s']],
          lambda m: abs(course()['total_s'] - sum(v['seconds'] for v in course()['notebooks'].values())) < 0.5),
]

# README numbers that are not results (pattern, why)
NOT_RESULTS = [
    (r"ICCV 2025", "the paper's venue"),
    (r"Stable Diffusion 1\.5", "a model's name"),
    (r"\b\d+-[dD]\b", 'a dimension (25-d vectors, 2-D toys)'),
    (r"Python 3\.10\+|PyTorch 2\.13", 'requirements'),
    (r"Apache-2\.0", 'the license'),
    (r"as on a first run-through", 'how the course was timed'),
    (r"95% interval", "the intervals' coverage"),
]

# README results for which no committed file holds the number (pattern, what is missing)
NO_SOURCE = []

# ---- the checks

def shown(s:str):
    "A README number: (value, decimals), the value in the README's unit (percent signs dropped)."
    s = s.strip().replace('−', '-')
    if s.lower() in WORDS or s.lower() == 'one': return WORDS.get(s.lower(), 1), 0
    s = s.rstrip('%')
    return float(s), len(s.split('.')[1]) if '.' in s else 0

def agrees(text:str, value)->bool:
    "Whether `value` shown at the README's rounding reads `text` (a count shown in digits or words must be equal)."
    if value is None or isinstance(value, bool): return False
    try: v, d = shown(text)
    except ValueError: return False   # a word that is no number
    return abs(value - v) <= 0.5 * 10 ** -d + 1e-9

@pytest.mark.parametrize('claim', CLAIMS, ids=[re.sub(r'\W+', ' ', c.readme)[:48].strip() for c in CLAIMS])
def test_readme_number_matches_its_source(claim):
    "Each number of the phrase is its source's value at the README's rounding, and what the phrase says around it holds."
    ms = list(re.finditer(claim.readme, README))
    assert ms, f'README.md no longer says {claim.readme!r}: update the claim in tests/test_readme_numbers.py'
    for m in ms:
        texts, values = [m[i] for i in number_groups(m)], claim.values(m)
        assert len(values) == len(texts), f'{claim.readme!r}: {len(texts)} numbers, {len(values)} values'
        bad = [(t, v) for t, v in zip(texts, values) if not agrees(t, v)]
        assert not bad, (f"README.md: {m[0]!r}\n  shows " + ', '.join(f'{t} where {claim.source} gives {v}' for t, v in bad))
        if claim.holds: assert claim.holds(m), f"README.md: {m[0]!r}\n  no longer holds in {claim.source}"

def test_course_table_lists_every_notebook():
    "The course table has a row for every timed notebook, and every notebook but the index is timed."
    rows = set(re.findall(r"(?m)^\| `(\w+)` \|.*\| \d+ s \|$", README))
    nbs = {p.stem for p in (ROOT/'nbs').glob('*.ipynb')} - {'index'}
    assert rows == set(course()['notebooks']) == nbs, (sorted(rows ^ nbs), sorted(set(course()['notebooks']) ^ nbs))

def masked(text:str)->str:
    "The README with its HTML comments, fenced and indented code blocks and inline code blanked out (positions kept)."
    blank = lambda m: re.sub(r'[^\n]', ' ', m[0])
    for pat in (r'<!--.*?-->', r'(?ms)^```.*?^```', r'(?m)^(?: {4}|\t).*$', r'`[^`\n]*`'): text = re.sub(pat, blank, text)
    return text

NUMBER = r'(?<![\w.])[+\-−]?\d+(?:\.\d+)?%?(?!\w)'     # digits, not part of a name like 3D, fp16 or 2x2
WORD = r'\b(?:' + '|'.join(WORDS) + r')\b'

def numbers(text:str)->list:
    "(start, end, text) of the numbers of a README: digits outside code, and number words in its prose (not tables, headings)."
    text = masked(text)
    found = [(m.start(), m.end(), m[0]) for m in re.finditer(NUMBER, text)]
    for line in re.finditer(r'(?m)^(?![|#]).*$', text):
        found += [(line.start() + w.start(), line.start() + w.end(), w[0]) for w in re.finditer(WORD, line[0], flags=re.I)]
    return sorted(found)

def number_groups(m)->list:
    "The indices of a claim match's groups that are numbers (named groups only place the phrase)."
    named = set(m.re.groupindex.values())
    return [i for i in range(1, len(m.groups()) + 1) if i not in named]

def unaccounted(text:str)->list:
    "The README's numbers that are neither a claim's group nor in a phrase of NOT_RESULTS or NO_SOURCE, with their context."
    groups = [(m.start(i), m.end(i)) for c in CLAIMS for m in re.finditer(c.readme, text) for i in number_groups(m)]
    other = [(m.start(), m.end()) for p, _ in NOT_RESULTS + NO_SOURCE for m in re.finditer(p, text)]
    inside = lambda a, b: any(x <= a and b <= y for x, y in groups + other)
    return [f"{s} in ...{text[max(0, a - 50):b + 30]}...".replace('\n', ' ') for a, b, s in numbers(text) if not inside(a, b)]

def test_every_number_is_accounted_for():
    "No number in the README goes unchecked: each is a claim's group, or named as not a result (or as lacking a source)."
    missing = unaccounted(README)
    assert not missing, ('README.md states numbers that tests/test_readme_numbers.py does not tie to a source '
                         '(add a claim with the file each comes from, or a NOT_RESULTS entry):\n' + '\n'.join(missing))

def test_accounting_catches_a_new_number():
    "A result added to the README's prose, in digits or in words, is reported until a claim covers it."
    extra = README.replace('The paper\'s six baselines', 'The paper\'s six baselines (0.42 ID on average, over nine styles)')
    assert extra != README
    missing = unaccounted(extra)
    assert [m.split()[0] for m in missing] == ['0.42', 'nine'], missing
    changed = README.replace('(id 0.41 against 0.32,', '(id 0.45 against 0.32,')
    assert changed != README
    claim = next(c for c in CLAIMS if c.readme.startswith('With its defaults'))
    m = re.search(claim.readme, changed)
    assert not all(agrees(m[i], v) for i, v in zip(number_groups(m), claim.values(m)))

def test_numbers_without_a_source():
    "README results that no committed file holds: each is still in the README (else drop it from NO_SOURCE), and listed here."
    for p, why in NO_SOURCE: assert re.search(p, README), f'{p!r} is no longer in README.md: remove it from NO_SOURCE'
    if NO_SOURCE: pytest.xfail('README numbers without a committed source: ' + '; '.join(f'{p!r}: {why}' for p, why in NO_SOURCE))
