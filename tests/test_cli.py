"""The `headstyle` console script, run as a user would run it."""
import subprocess, sys
import headstyle
from conftest import BIN

def run(*args, cwd=None):
    return subprocess.run([str(BIN/'headstyle'), *args], capture_output=True, text=True, cwd=cwd, timeout=120)

def test_help_and_version():
    r = run('--help'); assert r.returncode == 0 and 'usage: headstyle' in r.stdout and 'cameras' in r.stdout
    r = run('--version'); assert r.returncode == 0 and r.stdout.strip() == f'headstyle {headstyle.__version__}'

def test_no_command_prints_help():
    r = run(); assert r.returncode == 0 and 'usage: headstyle' in r.stdout

def test_usage_errors_exit_2_with_one_line():
    for args in [('frobnicate',), ('--bogus',), ('cameras', '--n', '0'), ('cameras', '--n', 'many')]:
        r = run(*args)
        assert r.returncode == 2, args
        lines = r.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith('headstyle') and '--help' in lines[0], (args, r.stderr)

def test_cameras_demo_writes_html(tmp_path):
    r = run('cameras', '--out', str(tmp_path/'out'), '--n', '3')
    assert r.returncode == 0, r.stderr
    page = (tmp_path/'out'/'cameras.html').read_text()
    assert 'plotly' in page.lower() and 'single views' in page and 'inference yaws' in page

def test_unwritable_output_folder(tmp_path):
    blocker = tmp_path/'file'; blocker.write_text('keep me')
    r = run('cameras', '--out', str(blocker/'sub'))
    assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1 and 'cannot write' in r.stderr
    assert blocker.read_text() == 'keep me'

def test_demo_bad_input(tmp_path):
    for args in [('demo', '--iters', '0'), ('demo', '--iters', 'x'), ('demo', '--seed', 'one')]:
        r = run(*args)
        assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1, (args, r.stderr)
    blocker = tmp_path/'file'; blocker.write_text('keep me')
    r = run('demo', '--out', str(blocker/'sub'))
    assert r.returncode == 2 and 'cannot write' in r.stderr and blocker.read_text() == 'keep me'
    r = run('demo', '--out', str(tmp_path/'d'), '--prior', str(tmp_path/'missing'))
    assert r.returncode == 2 and 'no diffusers pipeline' in r.stderr, r.stderr

def test_evaluate_report_shows_id_levels_and_diversity_beside_fid():
    from headstyle.evaluation import metrics_html
    row = dict(fid=0.02, kid=0.001, clip=2., clip_cosine=.9, id=.4, id_other=.1, id_cross=.36, retrieval=.75, delta_d=.01, diversity=.5)
    s = dict(identities=8, yaws_deg=[-90, -30, 0, 30, 90], pitch_deg=10, reference='TinyHeads', reference_images=200, judges={'clip': 'tiny'},
             id_views='all', feature_dim=64, fid_at_reference_mean=0.0186)
    old_record = {k: v for k, v in row.items() if k not in ('id_other', 'retrieval')}       # graded before they existed
    html = metrics_html(dict(settings=s, original=dict(row, id=1.), runs={'old': old_record}))
    assert "(8 identities × 5 yaws), a covariance of rank at most 39 in the features' 64 dimensions" in html and 'would score FID 0.0186' in html
    assert html.index('KID ↓') < html.index('<th>diversity</th>') < html.index('CLIP ↑')   # diversity beside FID and KID
    assert html.count('<td>—</td>') == 2 and '<th>ID cross</th>' in html and 'chance 1/8' in html
    bare = metrics_html(dict(settings={k: v for k, v in s.items() if k not in ('feature_dim', 'fid_at_reference_mean')}, original=row, runs={}))
    assert 'a covariance of rank at most 39,' in bare and 'would score FID' not in bare

def test_preset_choices_are_the_presets():
    "`headstyle stylize --preset` offers every preset of the library, and only those."
    from headstyle.cli import make_parser
    from headstyle.stylize import PRESETS
    sub = next(a for a in make_parser()._actions if a.dest == 'command' or getattr(a, 'choices', None) and 'stylize' in a.choices)
    preset = next(a for a in sub.choices['stylize']._actions if a.dest == 'preset')
    assert set(preset.choices) == set(PRESETS)
