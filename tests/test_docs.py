"""The quarto-free docs site: a page per notebook, and pages checked in headless Chromium (which `make test` requires)."""
import json, os, re, shutil, subprocess, sys
import pytest
from conftest import ROOT

DOCS = ROOT/'_docs'
CHROME_FLAGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
                '--disable-background-networking', '--disable-component-update', '--disable-sync',
                '--virtual-time-budget=20000']

@pytest.fixture(scope='module')
def docs():
    index = DOCS/'index.html'
    if not index.exists() or any(nb.stat().st_mtime > index.stat().st_mtime for nb in (ROOT/'nbs').glob('*.ipynb')):
        r = subprocess.run([sys.executable, str(ROOT/'tools'/'build_docs.py')], capture_output=True, text=True, cwd=ROOT, timeout=900)
        if r.returncode: pytest.fail(f"tools/build_docs.py failed (exit {r.returncode}); its output ends:\n{(r.stdout + r.stderr)[-3000:]}", pytrace=False)
    return DOCS

def page(nb): return re.sub(r'^\d+[a-z]?_', '', nb.stem) + '.html'

def nb_title(nb):
    first = next(c for c in json.loads(nb.read_text())['cells'] if c['cell_type'] == 'markdown')
    return re.match(r'#\s+(.+)', ''.join(first['source'])).group(1).strip()

def test_a_page_per_notebook(docs):
    nbs = sorted((ROOT/'nbs').glob('*.ipynb'))
    assert nbs
    for nb in nbs:
        path = docs/page(nb)
        assert path.exists(), f'no docs page for {nb.name}'
        text = path.read_text(encoding='utf-8')
        assert nb_title(nb) in text
        for other in nbs: assert f'href="{page(other)}"' in text   # the sidebar links every page
        assert 'headstyle.github.io' not in text                   # links to the public site are made relative

BROWSERS = ['chromium', 'chromium-browser', 'google-chrome']

def truthy(name): return os.environ.get(name, '').strip().lower() not in ('', '0', 'false', 'no')

def chromium():
    "The headless Chromium to check pages with; a skip that says why only where the run may go without one."
    if truthy('HEADSTYLE_NO_BROWSER'):
        pytest.skip('docs browser checks skipped on request (HEADSTYLE_NO_BROWSER=1, which `make test NO_BROWSER=1` sets)')
    exe = next((shutil.which(n) for n in BROWSERS if shutil.which(n)), None)
    if exe is not None: return exe
    if truthy('HEADSTYLE_REQUIRE_BROWSER') or truthy('CI'):
        pytest.fail(f"headless Chromium not found on PATH (none of {', '.join(BROWSERS)}), and this run requires it "
                    "(HEADSTYLE_REQUIRE_BROWSER=1 from `make test`, or CI is set): install chromium, or opt out with "
                    "`make test NO_BROWSER=1`", pytrace=False)
    pytest.skip('headless Chromium not found: `make test` installs Debian\'s chromium with apt where it can')

def screenshot(exe, url, shot, profile):
    "A 1280x1600 screenshot of `url` in `shot`, made afresh (an old file left from an earlier run never passes for it)."
    shot.unlink(missing_ok=True)
    r = subprocess.run([exe, *CHROME_FLAGS, f'--user-data-dir={profile}', '--window-size=1280,1600', f'--screenshot={shot}', url],
                       capture_output=True, text=True, timeout=180)
    assert shot.exists(), f'Chromium wrote no screenshot of {url} (exit {r.returncode}): {r.stderr[-500:]}'
    return shot

def test_browser_policy(monkeypatch):
    "No Chromium: a skip with its reason locally, a failure where the run requires the checks, a skip when opted out."
    for k in ('HEADSTYLE_NO_BROWSER', 'HEADSTYLE_REQUIRE_BROWSER', 'CI'): monkeypatch.delenv(k, raising=False)
    monkeypatch.setattr(shutil, 'which', lambda name: None)
    with pytest.raises(pytest.skip.Exception, match='Chromium not found'): chromium()
    for k, v in (('HEADSTYLE_REQUIRE_BROWSER', '1'), ('CI', 'true')):
        with monkeypatch.context() as m:
            m.setenv(k, v)
            with pytest.raises(pytest.fail.Exception, match='NO_BROWSER=1'): chromium()
    monkeypatch.setenv('HEADSTYLE_REQUIRE_BROWSER', '0')
    with pytest.raises(pytest.skip.Exception): chromium()
    monkeypatch.setenv('HEADSTYLE_NO_BROWSER', '1'); monkeypatch.setattr(shutil, 'which', lambda name: '/usr/bin/' + name)
    with pytest.raises(pytest.skip.Exception, match='on request'): chromium()
    monkeypatch.delenv('HEADSTYLE_NO_BROWSER')
    assert chromium() == '/usr/bin/chromium'

def fake_bin(tmp_path, **scripts):
    "A PATH folder holding only the given shell scripts."
    d = tmp_path/'bin'; d.mkdir(exist_ok=True)
    for name, body in scripts.items():
        (d/name).write_text('#!/bin/sh\n' + body + '\n'); (d/name).chmod(0o755)
    return d

def make_browser(path, *args):
    make = shutil.which('make')
    if make is None: pytest.skip('make not found: the Makefile\'s browser step cannot be checked here')
    return subprocess.run([make, '-s', '-C', str(ROOT), 'browser', *args], capture_output=True, text=True,
                          env={**os.environ, 'PATH': str(path)}, timeout=60)

def test_screenshot_is_made_afresh(tmp_path):
    "A browser that writes no screenshot fails the check, even where an earlier run left one."
    shot = tmp_path/'shot.png'; shot.write_bytes(b'an earlier screenshot')
    exe = fake_bin(tmp_path, chromium='exit 0')/'chromium'
    with pytest.raises(AssertionError, match='wrote no screenshot'): screenshot(str(exe), 'file:///nothing.html', shot, tmp_path/'p')

def test_make_browser_step(tmp_path):
    "`make browser` fails without Chromium and a way to install it, unless NO_BROWSER=1; `make test` then requires the checks."
    r = make_browser(fake_bin(tmp_path))                                                        # no chromium, no apt-get
    assert r.returncode != 0 and 'NO_BROWSER=1' in r.stderr, r.stdout + r.stderr
    r = make_browser(fake_bin(tmp_path, id='echo 0', **{'apt-get': 'exit 100'}))                # apt fails, as root
    assert r.returncode != 0 and 'apt could not install chromium' in r.stderr, r.stdout + r.stderr
    r = make_browser(fake_bin(tmp_path, **{'apt-get': 'exit 0'}))                               # apt "works", installs nothing
    assert r.returncode != 0 and 'apt could not install chromium' in r.stderr, r.stdout + r.stderr
    r = make_browser(tmp_path/'bin', 'NO_BROWSER=1')
    assert r.returncode == 0 and 'skipped' in r.stdout, r.stdout + r.stderr
    d = fake_bin(tmp_path, chromium='exit 0')
    r = make_browser(d)
    assert r.returncode == 0 and str(d/'chromium') in r.stdout, r.stdout + r.stderr
    make = shutil.which('make')
    for args, env in (([], 'HEADSTYLE_REQUIRE_BROWSER=1'), (['NO_BROWSER=1'], 'HEADSTYLE_NO_BROWSER=1')):
        dry = subprocess.run([make, '-n', '-C', str(ROOT), 'test', *args], capture_output=True, text=True, timeout=60).stdout
        assert any(env in l and '/pytest tests/' in l for l in dry.splitlines()), (args, dry)

def test_cameras_page_renders(docs, tmp_path):
    exe, page = chromium(), (docs/'cameras.html').as_uri()
    dom = subprocess.run([exe, *CHROME_FLAGS, f'--user-data-dir={tmp_path/"profile"}', '--dump-dom', page],
                         capture_output=True, text=True, timeout=180).stdout
    assert re.search(r'<h1[^>]*>\s*Cameras', dom), 'page title missing'
    assert dom.count('class="MathJax"') >= 10, 'formulas were not typeset'
    assert 'class="MathJax_Error"' not in dom, 'a formula failed to typeset'
    assert 'main-svg' in dom, 'the plotly figure was not drawn'
    assert re.search(r'<img[^>]+src="data:image/png', dom), 'matplotlib figures missing'

def test_cameras_page_screenshot(docs, tmp_path):
    from PIL import Image
    exe = chromium()
    shot = screenshot(exe, (docs/'cameras.html').as_uri(), DOCS/'screenshot-cameras.png', tmp_path/'profile')
    im = Image.open(shot).convert('L')
    assert im.size == (1280, 1600)
    lo, hi = im.getextrema()
    assert hi - lo > 100, 'blank screenshot'
    dark = sum(im.histogram()[:128]) / (im.size[0] * im.size[1])
    assert 0.005 < dark < 0.5, f'screenshot looks wrong: {dark:.3f} of the pixels are dark'

def test_one_quarto_config():
    "nbdev reads nbs/_quarto.yml; it is the top-level _quarto.yml."
    assert (ROOT/'nbs'/'_quarto.yml').resolve() == (ROOT/'_quarto.yml').resolve()

def test_stored_outputs_are_tidy():
    "No progress bars, library advisories or temporary paths in the outputs the docs show (`python tools/tidy_outputs.py` fixes them)."
    r = subprocess.run([sys.executable, str(ROOT/'tools'/'tidy_outputs.py'), '--check'], capture_output=True, text=True, cwd=ROOT)
    assert r.returncode == 0, r.stdout

@pytest.mark.parametrize('name, needs', [('index.html', ['<table', '17_experiments']), ('viewers.html', ['main-svg'])])
def test_index_and_a_viewer_page_render(docs, tmp_path, name, needs):
    "The landing page (its notebook table) and a page of interactive plotly viewers, drawn in headless Chromium, with a screenshot."
    from PIL import Image
    exe, shot = chromium(), DOCS/f'screenshot-{name[:-5]}.png'
    dom = subprocess.run([exe, *CHROME_FLAGS, f'--user-data-dir={tmp_path/"profile"}', '--dump-dom', (docs/name).as_uri()],
                         capture_output=True, text=True, timeout=180).stdout
    assert re.search(r'<h1[^>]*>', dom), f'{name}: no title'
    for n in needs: assert n in dom, f'{name}: {n} missing from the rendered page'
    im = Image.open(screenshot(exe, (docs/name).as_uri(), shot, tmp_path/'profile2')).convert('L')
    lo, hi = im.getextrema()
    assert im.size == (1280, 1600) and hi - lo > 100, f'{name}: blank screenshot'

def test_index_of_functions(docs):
    "Every exported function and class is listed with its description and a link to a page that exists."
    text = (docs/'api.html').read_text(encoding='utf-8')
    links = re.findall(r'<li><a href="([^"#]+)(?:#[^"]*)?"><code>([^<]+)</code></a> ([^<]*)</li>', text)
    names = {n for _, n, _ in links}
    assert {'Stylizer', 'Stylizer.step', 'evaluate_runs', 'load_prior', 'train_prior', 'toy_scores'} <= names
    assert all((docs/href).exists() for href, _, _ in links), sorted({h for h, _, _ in links if not (docs/h).exists()})
    assert dict((n, d) for _, n, d in links)['head_numbers'].startswith('ID kept, diversity left')
    assert 'id="hs-q"' in text and 'href="api.html"' in (docs/'index.html').read_text(encoding='utf-8')
