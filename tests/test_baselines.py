"The 3D baselines from the command line: StyleGAN-NADA and StyleCLIP on TinyHeads and on tiny random full-scale models."
import json
import numpy as np, pytest, torch
from test_metrics import evaluate_cli, random_judges

def test_nada_runs_resumes_renders_and_is_graded(tmp_path, small_reference):
    from headstyle.trainer import list_checkpoints
    run = tmp_path/'nada'
    code, _, err = evaluate_cli('stylize', '--method', 'stylegan-nada', '--iters', '2', '--prompt', 'a marble statue', '--out', run)
    assert code == 0, err
    meta = json.loads((list_checkpoints(run)[-1]/'stylize.json').read_text())
    assert meta['config']['objective'] == 'clip-direction' and meta['config']['adam_betas'] == [0., .99] and meta['iteration'] == 2
    code, _, err = evaluate_cli('stylize', '--method', 'stylegan-nada', '--iters', '3', '--prompt', 'a marble statue', '--out', run)
    assert code == 0 and 'resuming' in err and list_checkpoints(run)[-1].name == 'it000003', err
    code, _, err = evaluate_cli('render', '--checkpoint', run, '--samples', '1', '--out', tmp_path/'strips')
    assert code == 0 and len(list((tmp_path/'strips').glob('*.png'))) == 1, err
    code, _, err = evaluate_cli('evaluate', run, '--identities', '2', '--reference', small_reference, '--out', tmp_path/'ev')
    m = json.loads((tmp_path/'ev'/'metrics.json').read_text())
    assert code == 0 and m['settings']['methods'] == {'nada': 'stylegan-nada'} and m['runs']['nada']['delta_d'] is not None, err

def test_styleclip_writes_codes_strips_and_an_edit_run(tmp_path, small_reference):
    run = tmp_path/'sc'
    args = ('stylize', '--method', 'styleclip', '--iters', '3', '--identities', '2', '--prompt', 'a werewolf', '--out', run)
    code, out, err = evaluate_cli(*args)
    assert code == 0, err
    z = np.load(run/'latents'/'id001.npz')
    assert z['w'].shape == z['w0'].shape == (1, 12, 128) and not np.allclose(z['w'], z['w0'])
    assert len(list((run/'strips').glob('*.png'))) == 2
    code, out, err = evaluate_cli(*args)
    assert code == 0 and 'already holds' in out
    code, _, err = evaluate_cli(*args[:-1], tmp_path/'sc', '--iters', '4')
    assert code == 2 and 'holds another run' in err
    code, _, err = evaluate_cli('render', '--checkpoint', run, '--out', tmp_path/'strips')
    assert code == 0 and len(list((tmp_path/'strips').glob('*.png'))) == 2, err
    code, _, err = evaluate_cli('evaluate', run, '--identities', '2', '--reference', small_reference, '--out', tmp_path/'ev')
    m = json.loads((tmp_path/'ev'/'metrics.json').read_text())
    assert code == 0 and m['settings']['methods'] == {'sc': 'styleclip'} and m['runs']['sc']['id'] < 1, err
    code, _, err = evaluate_cli('evaluate', run, '--identities', '3', '--reference', small_reference, '--out', tmp_path/'ev')
    assert code == 2 and 'other identities' in err

def test_baselines_bad_input(tmp_path):
    cases = {"no identity model at": ('--method', 'styleclip', '--id-model', tmp_path/'none.pt'),
             "no CLIP folder at": ('--method', 'stylegan-nada', '--clip', tmp_path),
             "is an instruction": ('--method', 'stylegan-nada', '--prompt', 'make him a werewolf'),
             "unknown method 'nada'": ('--method', 'nada')}
    for msg, args in cases.items():
        code, _, err = evaluate_cli('stylize', *args, '--iters', '1', '--out', tmp_path/'out')
        assert code == 2 and len(err.strip().splitlines()) == 1 and msg in err, (msg, err)

def test_full_scale_paths_on_random_models(tmp_path):
    "NADA and StyleCLIP through a CLIP folder (as ViT-B/32 would be given), a PanoHead folder and a TorchScript recogniser."
    from headstyle.panohead import random_panohead, small_config, save_panohead
    from headstyle.judges import TinyID
    from headstyle.trainer import list_checkpoints
    clip = random_judges(tmp_path/'judges')/'clip'
    save_panohead(random_panohead(small_config(samples=8)), tmp_path/'G')
    import warnings
    torch.manual_seed(0)
    with warnings.catch_warnings():
        warnings.simplefilter('ignore', DeprecationWarning)
        torch.jit.save(torch.jit.trace(TinyID(dim=16, width=4).eval(), torch.zeros(2, 3, 112, 112)), str(tmp_path/'id.pt'))
    common = ('--generator', tmp_path/'G', '--clip', clip, '--clip', clip, '--preset', 'paper', '--prompt', 'a marble statue')
    code, _, err = evaluate_cli('stylize', '--method', 'stylegan-nada', '--iters', '1', '--out', tmp_path/'nada', *common)
    assert code == 0 and list_checkpoints(tmp_path/'nada')[-1].name == 'it000001', err
    code, _, err = evaluate_cli('stylize', '--method', 'styleclip', '--iters', '2', '--identities', '2', '--id-model', tmp_path/'id.pt',
                                '--out', tmp_path/'sc', *common)
    assert code == 0, err
    assert np.load(tmp_path/'sc'/'latents'/'id000.npz')['w'].shape == (1, 8, 512)
    for args, msg in ((('stylize', '--method', 'stylegan-nada'), 'pass --clip'), (('stylize', '--method', 'styleclip', '--clip', clip), 'pass --id-model'),
                      (('edit2d', '--method', 'ip2p', '--prompt', 'a werewolf'), 'needs --model')):
        code, _, err = evaluate_cli(*args, '--generator', tmp_path/'G', '--iters' if args[0] == 'stylize' else '--steps', '1', '--out', tmp_path/'bad')
        assert code == 2 and len(err.strip().splitlines()) == 1 and msg in err, (args, err)
