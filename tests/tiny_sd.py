"""Tiny random Stable-Diffusion-shaped components built offline from configs, shared by the tests."""
import copy
import torch
from transformers import CLIPTextModel, CLIPTextConfig
from diffusers import AutoencoderKL, UNet2DConditionModel, ControlNetModel
from headstyle.prior import build_tokenizer
from headstyle.generator import TriPlaneGenerator
from headstyle.guidance import Guide, ddim_scheduler

WORDS = 'a photo of person the joker marble statue'.split()

def make_tokenizer(folder):
    "CLIP BPE tokenizer in which each of WORDS is one token; unknown words fall back to letters."
    return build_tokenizer([' '.join(WORDS)], folder)

def make_components(tokenizer, layout):
    "Random text encoder, VAE, UNet and ControlNet; layout 'a': 4x VAE, 2-block UNet; 'b': 8x VAE, 3-block UNet."
    torch.manual_seed(0)
    hidden = 32 if layout == 'a' else 24
    te = CLIPTextModel(CLIPTextConfig(vocab_size=len(tokenizer), hidden_size=hidden, intermediate_size=2 * hidden,
                                      num_attention_heads=2, num_hidden_layers=2, max_position_embeddings=tokenizer.model_max_length,
                                      bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
                                      pad_token_id=tokenizer.eos_token_id))
    nb = 3 if layout == 'a' else 4
    vae = AutoencoderKL(block_out_channels=(8, 16, 16, 16)[:nb], down_block_types=('DownEncoderBlock2D',) * nb,
                        up_block_types=('UpDecoderBlock2D',) * nb, latent_channels=4, norm_num_groups=8, layers_per_block=1)
    if layout == 'a':
        unet = UNet2DConditionModel(sample_size=16, block_out_channels=(16, 32), norm_num_groups=8, layers_per_block=1,
                                    down_block_types=('CrossAttnDownBlock2D', 'DownBlock2D'), attention_head_dim=4,
                                    up_block_types=('UpBlock2D', 'CrossAttnUpBlock2D'), cross_attention_dim=hidden)
    else:
        unet = UNet2DConditionModel(sample_size=8, block_out_channels=(16, 16, 24), norm_num_groups=8, layers_per_block=1,
                                    down_block_types=('DownBlock2D', 'CrossAttnDownBlock2D', 'CrossAttnDownBlock2D'),
                                    up_block_types=('CrossAttnUpBlock2D', 'CrossAttnUpBlock2D', 'UpBlock2D'),
                                    attention_head_dim=(2, 4, 4), cross_attention_dim=hidden)
    cn = ControlNetModel.from_unet(unet, conditioning_embedding_out_channels=(8, 8, 16, 16)[:nb])
    with torch.no_grad():                      # a fresh ControlNet's zero convolutions add nothing: wake them up
        for q in cn.parameters():
            if not q.any(): q.normal_(0, 0.05)
    return te, vae, unet, cn

def small_generator(seed=0):
    "A small random tri-plane generator with PanoHead's interface whose heads differ from w to w."
    torch.manual_seed(seed)
    G = TriPlaneGenerator(w_dim=32, channels=(32, 32, 32), plane_channels=8, features=8, sr_channels=8,
                          neural_rendering_resolution=16, n_samples=12)
    with torch.no_grad():                       # untrained style affines are zero: every w would give the same head
        for m in G.modules():
            if hasattr(m, 'affine'): m.affine.weight.normal_(0, 0.1)
    return G

def make_guides(folder):
    "Random edge and depth guides (layout 'a') with the tokenizer saved in `folder`."
    tok = make_tokenizer(folder)
    te, vae, unet, edge = make_components(tok, 'a')
    depth = copy.deepcopy(edge)
    with torch.no_grad():
        for q in depth.parameters(): q.add_(0.02 * torch.randn_like(q))
    return [Guide(tok, te, vae, unet, ddim_scheduler(), cn) for cn in (edge, depth)]

def save_tiny_models(folder):
    "A random generator, SD-shaped prior and edge/depth ControlNets saved as the CLI reads them; returns the CLI options."
    from pathlib import Path
    from headstyle.prior import make_pipeline
    from headstyle.generator import save_generator
    folder = Path(folder)
    tok = make_tokenizer(folder/'tok')
    te, vae, unet, edge = make_components(tok, 'a')
    make_pipeline(tok, te, vae, unet).save_pretrained(folder/'sd')
    edge.save_pretrained(folder/'cn-edge'); edge.save_pretrained(folder/'cn-depth')
    save_generator(small_generator(), folder/'G')
    return ['--generator', str(folder/'G'), '--prior', str(folder/'sd'), '--controlnet-edge', str(folder/'cn-edge'),
            '--controlnet-depth', str(folder/'cn-depth')]

def sd15_layout(tokenizer, width:int=8, seed:int=0):
    "Random text encoder, VAE, UNet and ControlNet with Stable Diffusion 1.5's layout (8x VAE, four UNet levels), narrowed."
    torch.manual_seed(seed)
    w = width
    te = CLIPTextModel(CLIPTextConfig(vocab_size=len(tokenizer), hidden_size=4 * w, intermediate_size=8 * w, num_attention_heads=2,
                                      num_hidden_layers=2, max_position_embeddings=tokenizer.model_max_length, hidden_act='quick_gelu',
                                      bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.eos_token_id))
    vae = AutoencoderKL(block_out_channels=(w, 2 * w, 2 * w, 2 * w), down_block_types=('DownEncoderBlock2D',) * 4,
                        up_block_types=('UpDecoderBlock2D',) * 4, latent_channels=4, norm_num_groups=w, layers_per_block=1)
    unet = UNet2DConditionModel(sample_size=64, block_out_channels=(w, 2 * w, 4 * w, 4 * w), norm_num_groups=w, layers_per_block=1,
                                down_block_types=('CrossAttnDownBlock2D',) * 3 + ('DownBlock2D',),
                                up_block_types=('UpBlock2D',) + ('CrossAttnUpBlock2D',) * 3, attention_head_dim=2, cross_attention_dim=4 * w)
    cn = ControlNetModel.from_unet(unet, conditioning_embedding_out_channels=(w, w, 2 * w, 2 * w))
    with torch.no_grad():
        for q in cn.parameters():
            if not q.any(): q.normal_(0, 0.05)
    return te, vae, unet, cn

def save_sd15_layout(folder, width:int=8):
    "An SD1.5-layout pipeline, edge and depth ControlNets and a tiny Depth Anything saved as local folders; returns the CLI options."
    from pathlib import Path
    from headstyle.prior import make_pipeline
    from headstyle.generator import save_generator
    from headstyle.fullscale import tiny_depth_anything
    folder = Path(folder)
    tok = make_tokenizer(folder/'tok')
    te, vae, unet, cn = sd15_layout(tok, width)
    make_pipeline(tok, te, vae, unet).save_pretrained(folder/'sd15')
    cn.save_pretrained(folder/'cn-canny'); cn.save_pretrained(folder/'cn-depth')
    tiny_depth_anything().save_pretrained(folder/'depth-anything')
    save_generator(small_generator(), folder/'G')
    return ['--generator', str(folder/'G'), '--prior', str(folder/'sd15'), '--controlnet-edge', str(folder/'cn-canny'),
            '--controlnet-depth', str(folder/'cn-depth'), '--depth-model', str(folder/'depth-anything')]
