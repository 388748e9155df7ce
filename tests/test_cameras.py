"""Camera conventions and bad input, beyond the inline tests of nbs/00_cameras.ipynb."""
import math
import pytest, torch
from headstyle.cameras import (camera_params, check_cameras, mirror_camera, camera_rays, uv_rays, sample_cameras,
                               camera_angles, lookat_pose, fov_to_intrinsics, pixel_uv, GRID_YAW, GRID_PITCH)

def test_front_camera_vector():
    c = camera_params(0., 0.)[0]
    pose = c[:16].reshape(4, 4)
    assert torch.allclose(pose[:3, 3], torch.tensor([0., 0., 2.7]), atol=1e-5)
    assert torch.allclose(pose[3], torch.tensor([0., 0., 0., 1.]))
    assert torch.allclose(c[16:].reshape(3, 3), fov_to_intrinsics(18.837))

@pytest.mark.parametrize('shape', [(24,), (3, 24), (3, 26), (2, 5, 25), ()])
def test_bad_camera_shape(shape):
    with pytest.raises(ValueError, match=r'\(N, 25\)'): check_cameras(torch.zeros(shape))

@pytest.mark.parametrize('fn', [mirror_camera, lambda c: camera_rays(c, 4)])
def test_non_finite_cameras(fn):
    c = camera_params(0., 0.); c[0, 3] = float('nan')
    with pytest.raises(ValueError, match='NaN'): fn(c)

@pytest.mark.parametrize('yaw,pitch', [(float('nan'), 0.), (0., float('inf')), (torch.tensor([0., float('nan')]), 0.)])
def test_non_finite_angles(yaw, pitch):
    with pytest.raises(ValueError, match='NaN'): camera_params(yaw, pitch)

def test_single_vector_is_a_batch_of_one():
    c = camera_params(0.3, 0.1)
    assert check_cameras(c[0]).shape == (1, 25)
    assert torch.equal(mirror_camera(c[0]), mirror_camera(c))

def test_mirror_is_negative_yaw_everywhere():
    g = torch.Generator().manual_seed(0)
    yaw = (torch.rand(64, generator=g) * 2 - 1) * math.pi
    pitch = (torch.rand(64, generator=g) * 2 - 1) * math.pi / 6
    assert torch.allclose(mirror_camera(camera_params(yaw, pitch)), camera_params(-yaw, pitch), atol=1e-5)
    assert torch.allclose(mirror_camera(mirror_camera(camera_params(yaw, pitch))), camera_params(yaw, pitch))

def test_broadcast_yaw_pitch():
    assert camera_params(torch.zeros(7), 0.2).shape == (7, 25)
    assert camera_params(0.1, torch.zeros(3)).shape == (3, 25)
    with pytest.raises(RuntimeError): camera_params(torch.zeros(3), torch.zeros(2))

def test_angles_round_trip_with_radius_and_pivot():
    yaw, pitch = torch.linspace(-3, 3, 11), torch.linspace(-0.5, 0.5, 11)
    c = camera_params(yaw, pitch, radius=1.7, pivot=(0.2, 0.1, -0.3))
    y2, p2 = camera_angles(c, pivot=(0.2, 0.1, -0.3))
    assert torch.allclose(y2, yaw, atol=1e-4) and torch.allclose(p2, pitch, atol=1e-4)

def test_sampling_ranges_and_seed():
    g = torch.Generator().manual_seed(5)
    yaw, pitch = camera_angles(sample_cameras(500, (-0.5, 0.25), (0.0, 0.3), generator=g))
    assert yaw.min() >= -0.5 - 1e-4 and yaw.max() <= 0.25 + 1e-4
    assert pitch.min() >= -1e-4 and pitch.max() <= 0.3 + 1e-4
    with pytest.raises(ValueError, match='positive'): sample_cameras(0)

def test_rays_pixel_order_and_centre():
    uv = pixel_uv(3)
    assert torch.allclose(uv[:3, 1], torch.full((3,), 0.5 / 3)) and torch.allclose(uv[:3, 0], torch.tensor([1, 3, 5]) / 6)
    c = sample_cameras(5, GRID_YAW, GRID_PITCH, generator=torch.Generator().manual_seed(1))
    o, d = camera_rays(c, 3)                     # odd resolution: pixel 4 is the image centre
    to_pivot = -o[:, 4] / o[:, 4].norm(dim=-1, keepdim=True)
    assert torch.allclose(d[:, 4], to_pivot, atol=1e-5)
    with pytest.raises(ValueError, match='resolution'): camera_rays(c, 0)

def test_cam2world_is_rigid():
    P = lookat_pose(torch.linspace(-3, 3, 13), torch.linspace(-1.2, 1.2, 13))
    R = P[:, :3, :3]
    assert torch.allclose(R @ R.transpose(1, 2), torch.eye(3).expand_as(R), atol=1e-5)
    assert torch.allclose(torch.linalg.det(R), torch.ones(13), atol=1e-5)
