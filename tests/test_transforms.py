"""Image transforms: crops and the dihedral augmentation."""

from __future__ import annotations

import torch

from matsight.data.transforms import center_crop, random_crop, random_dihedral


def test_crops_have_the_asked_size_and_centre_crop_is_central():
    image = torch.arange(2 * 6 * 6, dtype=torch.float32).reshape(2, 6, 6)
    assert torch.equal(center_crop(image, 2), image[:, 2:4, 2:4])
    assert random_crop(image, 4, torch.Generator().manual_seed(0)).shape == (2, 4, 4)


def test_random_dihedral_draws_all_eight_symmetries_of_the_square():
    image = torch.arange(9, dtype=torch.float32).reshape(1, 3, 3)
    generator = torch.Generator().manual_seed(0)
    seen = {tuple(random_dihedral(image, generator).flatten().tolist()) for _ in range(200)}
    expected = set()
    for k in range(4):
        rotated = torch.rot90(image, k, dims=(1, 2))
        expected |= {tuple(rotated.flatten().tolist()), tuple(rotated.flip(2).flatten().tolist())}
    assert seen == expected and len(expected) == 8


def test_resize_square_on_a_batch_equals_per_image_and_antialiases():
    from matsight.data.transforms import model_view, resize_square

    images = torch.rand(3, 1, 40, 60)
    batch = resize_square(images, 20)
    assert batch.shape == (3, 1, 20, 20)
    for i in range(3):
        torch.testing.assert_close(batch[i], resize_square(images[i], 20))
    stripes = torch.zeros(1, 1, 64, 64)
    stripes[..., ::4] = 1.0  # one bright column in four: shrinking 4x must average them (0.25), not alias (0)
    inside = resize_square(stripes, 16)[..., 1:-1, 1:-1]
    assert torch.allclose(inside, torch.full_like(inside, 0.25), atol=0.02)
    assert model_view(images, 20, 16).shape == (3, 1, 16, 16)


def test_match_channels_repeats_grey_and_turns_colour_to_luminance():
    from matsight.data.transforms import match_channels

    grey = torch.rand(2, 1, 4, 4)
    assert torch.equal(match_channels(grey, 3)[:, 2], grey[:, 0])
    colour = torch.zeros(1, 3, 2, 2)
    colour[:, 1] = 1.0
    assert torch.allclose(match_channels(colour, 1), torch.full((1, 1, 2, 2), 0.587))
