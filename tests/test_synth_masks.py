"""Ground-truth masks of the generators: same images, masks where the causes were planted."""

from __future__ import annotations

import json

import numpy as np
import pytest
from scipy import ndimage

from matsight.synth.masks import pack, read_masks, unpack
from matsight.synth.sem import generate_lots
from matsight.synth.sem_tiles import MASK_NAMES, TileAttributes, render_tile, render_tile_with_truth
from matsight.synth.xray import GLOBAL_TAGS, LOCAL_TAGS, TAGS, draw_image, draw_scene, generate_xray


def test_pack_roundtrips_sixteen_masks_and_rejects_unknown_names():
    rng = np.random.default_rng(0)
    names = [f"m{i}" for i in range(16)]
    masks = {name: rng.random((5, 7)) < 0.5 for name in names[:-1]}  # the last one is missing = empty
    packed = pack(masks, names, (5, 7))
    assert packed.dtype == np.uint16
    back = unpack(packed, names)
    assert all(np.array_equal(back[n], masks[n]) for n in names[:-1]) and not back[names[-1]].any()
    assert pack({"a": masks["m0"]}, ["a", "b"], (5, 7)).dtype == np.uint8
    with pytest.raises(ValueError, match="zz"):
        pack({"zz": masks["m0"]}, names, (5, 7))


def test_sem_truth_leaves_the_tile_unchanged_and_marks_dark_pits_and_cracks():
    attributes = TileAttributes(size=14.0, porosity=0.4, polydispersity=0.2, facetness=0.8, cracks=2.0)
    tile, truth = render_tile_with_truth(attributes, 96, np.random.default_rng(3))
    assert np.array_equal(tile, render_tile(attributes, 96, np.random.default_rng(3)))
    assert set(truth.masks) == set(MASK_NAMES)
    image = tile / 255.0
    for name in ("pits", "cracks", "grain_boundaries"):  # the planted features are dark
        assert image[truth.masks[name]].mean() < image[truth.masks["facets"]].mean() - 0.1
    on_faces = (truth.masks["pits"] & truth.masks["facets"]).sum()
    assert on_faces > 0.5 * truth.masks["pits"].sum()  # pits are centred on grain faces
    blobs = ndimage.label(truth.masks["pits"])[1]
    assert 0.7 * truth.n_pits <= blobs <= truth.n_pits  # one blob per pit (a few merge)
    assert truth.n_cracks >= 1 and truth.masks["cracks"].sum() > 20


def test_sem_masks_follow_the_attributes():
    def truth(**changes):
        base = dict(size=12.0, porosity=0.0, polydispersity=0.2, facetness=0.5, cracks=0.0)
        return render_tile_with_truth(TileAttributes(**{**base, **changes}), 64, np.random.default_rng(0))[1]

    none, many = truth(), truth(porosity=1.2)
    assert none.n_pits == 0 and not none.masks["pits"].any() and not none.masks["cracks"].any()
    assert many.n_pits > 10 and many.masks["pits"].mean() > 0.02
    assert truth(size=6.0).masks["grain_boundaries"].mean() > 1.5 * truth(size=20.0).masks["grain_boundaries"].mean()


def test_lots_write_masks_and_counts_that_read_back(tmp_path):
    root = generate_lots(tmp_path / "lots", lots=2, tiles_per_lot=2, size=32, seed=4, progress=False)
    truth = json.loads((root / "ground_truth.json").read_text())
    assert truth["masks"]["bits"] == list(MASK_NAMES)
    masks = read_masks(root / "masks" / "B" / "tile_001.png", truth["masks"]["bits"])
    counts = (root / "masks" / "counts.csv").read_text().splitlines()
    assert counts[0] == "lot,tile,pits,cracks" and len(counts) == 5
    assert masks["pits"].shape == (32, 32) and not (masks["facets"] & masks["grain_boundaries"]).any()
    plain = generate_lots(tmp_path / "plain", lots=2, tiles_per_lot=2, size=32, seed=4, progress=False, masks=False)
    assert not (plain / "masks").exists()
    tile = "images/B/tile_001.png"
    assert (plain / tile).read_bytes() == (root / tile).read_bytes()


def _scenes(n: int = 120, size: int = 48):
    return [draw_scene(size, np.random.default_rng([11, i])) for i in range(n)]


def test_xray_scene_has_the_image_of_draw_image_and_a_mask_per_local_tag():
    for i in range(12):
        scene = draw_scene(48, np.random.default_rng([11, i]))
        image, tags = draw_image(48, np.random.default_rng([11, i]))
        assert np.array_equal(scene.image, image) and scene.tags == tags
        assert set(scene.masks) == {t for t in LOCAL_TAGS if tags[t]}
    assert set(LOCAL_TAGS) | set(GLOBAL_TAGS) == set(TAGS) and len(LOCAL_TAGS) <= 16


def test_xray_regions_are_where_the_tag_shows():
    """Rings, halos and diffuse terms are brighter inside their region, beamstops darker; rings sit
    on circles around one centre (the radius spread inside a first-order ring region is small)."""
    contrast: dict[str, list[float]] = {}
    for scene in _scenes():
        image = scene.image / 65535.0
        for tag, mask in scene.masks.items():
            if mask.any() and (~mask).any():
                contrast.setdefault(tag, []).append(image[mask].mean() - image[~mask].mean())
    for tag, values in contrast.items():
        expected = -1 if "beamstop" in tag.lower() else 1
        assert expected * np.mean(values) > 0.03, (tag, np.mean(values))
    assert len(contrast) == len(LOCAL_TAGS)


def test_xray_masks_are_written_and_read_back(tmp_path):
    root = generate_xray(tmp_path / "x", n=6, size=32, seed=2)
    bits = json.loads((root / "masks" / "masks.json").read_text())["bits"]
    assert bits == LOCAL_TAGS
    for i in range(6):
        scene = draw_scene(32, np.random.default_rng([2, i]))
        back = read_masks(root / "masks" / f"xray_{i:05d}.png", bits)
        assert all(np.array_equal(back[t], scene.masks.get(t, np.zeros((32, 32), bool))) for t in LOCAL_TAGS)


def test_bragg_spots_of_a_prototype_survive_its_defects():
    """The pristine fingerprint's spots are where the defective structure's fingerprint is bright;
    two classes have different spots."""
    import torch

    from matsight.crystals.defects import vacancies
    from matsight.crystals.fingerprint import FingerprintTransformer
    from matsight.crystals.library import CLASS_NAMES, random_structure
    from matsight.crystals.spots import spot_masks, spots_of

    rng = np.random.default_rng(0)
    fcc, bcc = (random_structure(CLASS_NAMES.index(name), rng)[0] for name in ("A1_fcc", "A2_bcc"))
    spots = spot_masks([fcc, bcc])
    assert spots.shape == (2, 64, 64) and spots.dtype == torch.bool
    assert 0.02 < spots[0].float().mean() < 0.15 and (spots[0] ^ spots[1]).float().mean() > 0.03
    defective = FingerprintTransformer().transform([vacancies(fcc, 0.25, seed=1)])[0].amax(dim=0)
    assert defective[spots[0]].mean() > 5 * defective[~spots[0]].mean()
    toy = torch.zeros(1, 3, 8, 8)
    toy[0, 1, 2, 3], toy[0, 0, 5, 5] = 1.0, 0.05
    assert spots_of(toy).nonzero().tolist() == [[0, 2, 3]]
