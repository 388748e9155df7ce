"""Bad input to the library: the guide's inputs, steps and config, rank weighting, and damaged generator folders. Each is
one `ValueError` line that names the input, before any model runs or is built."""
import json
import pytest
import torch
from safetensors.torch import save_file
from headstyle.guidance import Guide, GuideConfig, check_tensor, ddim_scheduler, rank_weight, rank_weight_svd
from headstyle.generator import TriPlaneGenerator, save_generator, load_generator, param_count, MAX_PARAMS
from headstyle.panohead import PanoHeadGenerator, small_config, save_panohead, load_panohead, load_any_generator
from headstyle.cameras import camera_params
from headstyle.stylize import StylizeConfig, METHODS
from tiny_sd import make_tokenizer, make_components, small_generator

NAN, INF = float('nan'), float('inf')

@pytest.fixture(scope='module')
def guide(tmp_path_factory):
    tok = make_tokenizer(tmp_path_factory.mktemp('tok'))
    te, vae, unet, cn = make_components(tok, 'a')
    return Guide(tok, te, vae, unet, ddim_scheduler(), cn, GuideConfig(prompt='a marble statue'))

def inputs(B=2):
    g = torch.Generator().manual_seed(0)
    return torch.rand(B, 3, 64, 64, generator=g) * 2 - 1, torch.rand(B, 3, 64, 64, generator=g)

# ---- the guide ----------------------------------------------------------------------------------------------------

def test_guide_refuses_non_finite_inputs(guide):
    x, ctrl = inputs()
    bad = x.clone(); bad[1, 2, 5, :4] = NAN
    with pytest.raises(ValueError, match=r'^images holds 4 non-finite values \(NaN or inf\) out of 24576'): guide(bad, ctrl)
    z = torch.zeros(2, 4, 16, 16); z[0, 0, 0, 0] = INF
    with pytest.raises(ValueError, match='^latents holds 1 non-finite values'): guide(latents=z, control=ctrl)
    bad_ctrl = ctrl.clone(); bad_ctrl[0, 0, 0, :2] = NAN; bad_ctrl[1, 1, 3, 3] = INF
    with pytest.raises(ValueError, match='^control holds 3 non-finite values'): guide(x, bad_ctrl)
    with torch.no_grad(): out = guide(bad, ctrl, check_finite=False, decode=False)   # a trainer that skips NaN steps
    assert torch.isnan(out.latents).any()

def test_check_tensor_finite_and_meta():
    check_tensor(torch.full((1, 3, 4, 4), NAN, device='meta'), 'images', 3, lo=-1, hi=1)     # meta tensors hold no values
    with pytest.raises(ValueError, match='^x holds 16 non-finite'): check_tensor(torch.full((1, 1, 4, 4), -INF), 'x')
    check_tensor(torch.full((1, 1, 4, 4), NAN), 'x', finite=False)
    with pytest.raises(ValueError, match='must be in'): check_tensor(torch.full((1, 1, 4, 4), 3.), 'x', lo=0, hi=1)

@pytest.mark.parametrize('step', [-1, 50, 1000, [35, 60]])
def test_guide_refuses_steps_outside_the_grid(guide, step):
    x, ctrl = inputs()
    with pytest.raises(ValueError, match=r'^step must be a DDIM step index in \[0, 49\]'): guide(x, ctrl, step=step)

def test_guide_steps_at_the_ends_and_bad_kinds(guide):
    x, ctrl = inputs()
    with torch.no_grad():
        assert guide(x, ctrl, step=0, decode=False).t.tolist() == [981, 981]
        assert guide(x, ctrl, step=torch.tensor([49, 0]), decode=False).t.tolist() == [1, 981]
    with pytest.raises(ValueError, match='integer DDIM step indices'): guide(x, ctrl, step=10.5)
    with pytest.raises(ValueError, match='3 step indices for a batch of 2'): guide(x, ctrl, step=[1, 2, 3])

@pytest.mark.parametrize('bad,msg', [
    (dict(guidance_scale=NAN), 'GuideConfig.guidance_scale must be a finite number >= 0, got nan'),
    (dict(guidance_scale=-1.), 'GuideConfig.guidance_scale must be a finite number >= 0'),
    (dict(prompt=''), 'GuideConfig.prompt must be a non-empty target prompt'),
    (dict(prompt='   '), 'GuideConfig.prompt must be'),
    (dict(prompt=3), 'GuideConfig.prompt must be'),
    (dict(negative_prompt=None), 'GuideConfig.negative_prompt must be a string'),
    (dict(grad_scale=0.), 'GuideConfig.grad_scale must be a finite number > 0'),
    (dict(grad_clamp=INF), 'GuideConfig.grad_clamp must be a finite number > 0'),
    (dict(conditioning_scale=NAN), 'GuideConfig.conditioning_scale must be a finite number >= 0'),
    (dict(num_inference_steps=50.), 'GuideConfig.num_inference_steps must be an integer'),
    (dict(min_step=True), 'GuideConfig.min_step must be an integer'),
    (dict(sample_posterior='yes'), 'GuideConfig.sample_posterior must be True or False'),
])
def test_guide_config_fields(bad, msg):
    with pytest.raises(ValueError, match='^' + msg.replace('(', r'\(').replace(')', r'\)')): GuideConfig(**bad)

def test_existing_guide_configs_stay_valid():
    assert GuideConfig().prompt is None and GuideConfig(negative_prompt='').negative_prompt == ''   # the unconditional branch
    GuideConfig(prompt='a werewolf', negative_prompt='blurry', guidance_scale=0, conditioning_scale=0)
    for preset in ('paper', 'tiny', 'tiny-authors'):
        for method in METHODS:
            StylizeConfig.preset(preset, prompt='a marble statue').with_method(method).guide_config()

# ---- rank weighting -----------------------------------------------------------------------------------------------

def test_rank_weight_refuses_bad_weights_and_1x1_scores():
    x = torch.randn(2, 4, 8, 8)
    for f in (rank_weight, rank_weight_svd):
        with pytest.raises(ValueError, match='weights must be finite numbers'): f(x, (1., NAN, .5, .25))
        with pytest.raises(ValueError, match='weights must be finite numbers'): f(x, (1., .75, INF, .25))
        with pytest.raises(ValueError, match='one weight per channel: 3 weights for 4 channels'): f(x, (1., .5, .25))
        with pytest.raises(ValueError, match='spatial size 1x1 cannot be rank-weighted'): f(torch.randn(2, 4, 1, 1))
    with pytest.raises(ValueError, match='sequence of 4 numbers'): rank_weight(x, None)
    assert torch.isfinite(rank_weight(torch.randn(2, 4, 1, 1), match_stats=False)).all()
    assert torch.isfinite(rank_weight(torch.randn(2, 4, 1, 2))).all()

# ---- generator folders ----------------------------------------------------------------------------------------------

@pytest.fixture(scope='module')
def toy():
    torch.manual_seed(0)
    return small_generator()

def test_param_count_is_exact_and_allocates_nothing(toy):
    assert param_count(small_generator) == sum(t.numel() for t in (*toy.parameters(), *toy.buffers()))
    assert param_count(lambda: TriPlaneGenerator(w_dim=4096, channels=[4096] * 8)) > MAX_PARAMS   # instant: built on meta

@pytest.mark.parametrize('cfg,msg', [
    ([1, 2], 'must hold a JSON object of TriPlaneGenerator settings (written by save_generator), got a JSON array'),
    ('generator', 'got a JSON string'),
    (dict(z_dim=-1), 'z_dim must be an integer in [1, 4096], got -1'),
    (dict(channels=[1_000_000] * 5), 'channels must be a list of 1 to 8 integers in [1, 4096]'),
    (dict(channels=[]), 'channels must be a list'),
    (dict(w_dim=64.0), 'w_dim must be an integer'),
    (dict(n_samples=None), 'n_samples must be an integer'),
    (dict(w_dim=4096, channels=[4096] * 8), 'parameters, more than the 2e+09 a config may ask for'),
    (dict(colour='blue'), "does not describe a TriPlaneGenerator: unknown keys 'colour'"),
])
def test_damaged_generator_config(tmp_path, toy, cfg, msg):
    save_generator(toy, tmp_path)
    (tmp_path / 'config.json').write_text(json.dumps(dict(toy.config, **cfg) if isinstance(cfg, dict) else cfg))
    for load in (load_generator, load_any_generator):
        with pytest.raises(ValueError, match=msg.replace('(', r'\(').replace(')', r'\)').replace('[', r'\[').replace('+', r'\+')): load(tmp_path)

def test_damaged_generator_weights(tmp_path, toy):
    save_generator(toy, tmp_path)
    sd = {k: v.clone() for k, v in toy.state_dict().items()}
    sd['decoder.net.0.weight'][0, :3] = NAN; sd['decoder.net.0.weight'][1, 0] = -INF
    save_file(sd, str(tmp_path / 'model.safetensors'))
    for load in (load_generator, load_any_generator):
        with pytest.raises(ValueError, match=r'model\.safetensors is damaged: decoder\.net\.0\.weight holds 3 NaN values and 1 infinite values'):
            load(tmp_path)
    (tmp_path / 'model.safetensors').write_bytes(b'\x00' * 64)
    with pytest.raises(ValueError, match=r'model\.safetensors is not a readable safetensors file'): load_generator(tmp_path)

def test_codes_of_another_generator(toy):
    c = camera_params(torch.zeros(10), 0.)
    with pytest.raises(ValueError, match=r'expected ws of shape \(B, 8, 32\), got \(10, 12, 128\): codes with num_ws=12, w_dim=128 '
                                         r'were made for a different generator .*pass the matching --generator'):
        toy.synthesis(torch.zeros(10, 12, 128), c)

@pytest.fixture(scope='module')
def panohead():
    torch.manual_seed(0)
    return PanoHeadGenerator(small_config(samples=4)).eval()

@pytest.mark.parametrize('change,msg', [
    (dict(z_dim=-1), 'z_dim must be an integer in [1, 4096], got -1'),
    (dict(channel_max=1_000_000), 'channel_max must be an integer in [1, 8192]'),
    (dict(channel_base=2 ** 20, channel_max=8192), 'describes a PanoHead generator of'),
    (dict(rendering_kwargs=[]), 'rendering_kwargs must be an object'),
    (dict(mapping_kwargs=dict(num_layers=10 ** 9)), 'mapping_kwargs.num_layers must be an integer in [1, 64]'),
    (dict(z_dim=None), 'z_dim must be an integer'),
])
def test_damaged_panohead_folder(tmp_path, panohead, change, msg):
    save_panohead(panohead, tmp_path)
    cfg = json.loads((tmp_path / 'config.json').read_text())
    (tmp_path / 'config.json').write_text(json.dumps(dict(cfg, **change)))
    for load in (load_panohead, load_any_generator):
        with pytest.raises(ValueError, match=msg.replace('(', r'\(').replace(')', r'\)').replace('[', r'\[')): load(tmp_path)

def test_damaged_panohead_weights(tmp_path, panohead):
    save_panohead(panohead, tmp_path)
    (tmp_path / 'config.json').write_text('[]')
    with pytest.raises(ValueError, match='a PanoHead config is a JSON object'): load_panohead(tmp_path)
    save_panohead(panohead, tmp_path)
    sd = {k: v.clone() for k, v in panohead.state_dict().items()}
    sd['decoder.net.0.bias'][:2] = NAN
    save_file(sd, str(tmp_path / 'model.safetensors'))
    with pytest.raises(ValueError, match=r'model\.safetensors is damaged: decoder\.net\.0\.bias holds 2 NaN values'): load_any_generator(tmp_path)
    (tmp_path / 'model.safetensors').write_text('not a safetensors file')
    with pytest.raises(ValueError, match=r'model\.safetensors is not a readable safetensors file'): load_panohead(tmp_path)
    c = camera_params(torch.zeros(1), 0.)
    with pytest.raises(ValueError, match='were made for a different generator'): panohead.synthesis(torch.zeros(1, 8, 32), c)
