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
