"""Every tensor the library creates follows its inputs' device and dtype. Models and inputs on the `meta` device carry no
values, and any tensor made on the CPU and mixed with them raises: so these tests find CPU-made tensors with no GPU."""
import copy, tempfile
import pytest
import torch
from headstyle.guidance import canny, depth_control, rank_weight, gaussian_blur, sobel
from headstyle.stylize import StylizeConfig
from headstyle.trainer import Stylizer
from tiny_sd import make_guides, small_generator

META = torch.device('meta')

@pytest.fixture(scope='module')
def meta_guides(tmp_path_factory):
    guides = make_guides(tmp_path_factory.mktemp('tok'))
    for g in guides:
        for m in (g.text_encoder, g.vae, g.unet, g.controlnet): m.to(META)
    return guides

def test_image_ops_follow_the_input_device():
    x = torch.zeros(2, 3, 32, 32, device=META)
    for y in (canny(x), gaussian_blur(x), *sobel(x[:, :1]), depth_control(torch.ones(2, 1, 32, 32, device=META)),
              rank_weight(torch.zeros(2, 4, 8, 8, device=META))):
        assert y.device == META
    for dt in (torch.float16, torch.bfloat16):
        assert gaussian_blur(torch.zeros(1, 1, 8, 8, dtype=dt)).dtype == dt and sobel(torch.zeros(1, 1, 8, 8, dtype=dt))[0].dtype == dt

def test_guide_on_meta(meta_guides):
    edge, _ = meta_guides
    out = edge(torch.zeros(2, 3, 64, 64, device=META), torch.zeros(2, 3, 64, 64, device=META), decode=True)
    assert out.latents.device == out.x0_image.device == out.cfg.device == META
    loss = edge.loss(out, torch.ones(2, 1, 64, 64, device=META), lambda s: rank_weight(s))
    assert loss.device == META

def test_one_stylizer_step_on_meta(meta_guides):
    cfg = StylizeConfig.preset('tiny', prompt='a marble statue', ldis_weight=1., relative_lr=False)   # relative lr reads weights
    st = Stylizer(small_generator().to(META), *meta_guides, cfg)
    assert st.device == META
    rec = st.step()
    assert set(rec) >= {'single', 'grid', 'tweedie', 'ldis', 'total'} and st.iteration == 1
