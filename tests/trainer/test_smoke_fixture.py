import siamese_sdk


def test_bundle_loads_and_verifies(bundle, tiny_data):
    model = siamese_sdk.load(bundle)
    imgs = sorted(tiny_data.rglob("*.png"))
    r = model.verify(imgs[:4], imgs[4:8])
    assert r.scores.shape == (4,) and r.same.dtype == bool
