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
