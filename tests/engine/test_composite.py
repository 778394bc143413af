"""S2GM-style composite: validity, medoid, short-term-composite rules, quality layers."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import numpy.typing as npt
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.errors import InvalidParameter
from engine.methods import composite
from engine.methods.base import Method, Observations, Reduction
from engine.methods.composite import (
    DATE_NODATA,
    MEDOID_BANDS,
    Composite,
    CompositeMethod,
    StcRule,
    short_term_composite,
)
from engine.methods.indices import mndwi, ndsi, ndvi, tcb
from tests.engine.support import (
    BANDS,
    assert_reductions_equal,
    make_obs,
    reduce_with_dask,
    stack_reflectance,
)

# Any RuntimeWarning (0/0, NaN comparisons...) is a failure.
pytestmark = pytest.mark.filterwarnings("error")

def spectrum(
    blue: float,
    green: float,
    red: float,
    rededge2: float,
    nir: float,
    nir08: float,
    swir16: float,
    swir22: float,
) -> list[float]:
    """A reflectance spectrum in BANDS order."""
    return [blue, green, red, rededge2, nir, nir08, swir16, swir22]


def pixel(r: Reduction, key: str) -> float:
    """The value of a quality layer at the single pixel (0, 0)."""
    return float(r.quality[key][0, 0])


def assert_chose(obs: Observations, r: Reduction, t: int | None) -> None:
    """The output is observation t, exactly (reflectance, date, scl), or nodata for None."""
    if t is None:
        assert np.isnan(r.reflectance[:, 0, 0]).all()
        assert pixel(r, "date") == DATE_NODATA
        assert pixel(r, "scl") == 0
        return
    np.testing.assert_array_equal(r.reflectance[:, 0, 0], stack_reflectance(obs)[t, :, 0, 0])
    assert pixel(r, "date") == int(np.rint(obs.days[t]))
    assert pixel(r, "scl") == obs.scl[t, 0, 0]


# Hand-made spectra (reflectance). The comments give NDVI / mNDWI (= NDSI) / TCB.
VEG = spectrum(0.03, 0.06, 0.04, 0.25, 0.35, 0.36, 0.18, 0.08)  # 0.79 / -0.50 / 0.35
CLOUD = spectrum(0.55, 0.56, 0.58, 0.60, 0.62, 0.62, 0.50, 0.40)  # 0.03 / 0.06 / 1.33
SOIL_BRIGHT_GREENER = spectrum(0.12, 0.15, 0.17, 0.22, 0.26, 0.27, 0.62, 0.42)  # .21/-.61/.70
SOIL = spectrum(0.10, 0.14, 0.18, 0.22, 0.24, 0.25, 0.60, 0.40)  # 0.14 / -0.62 / 0.67
WATER_DARK = spectrum(0.05, 0.04, 0.03, 0.015, 0.01, 0.01, 0.004, 0.002)  # -.50/.82/.05
WATER_CLEAR = spectrum(0.07, 0.06, 0.045, 0.02, 0.015, 0.014, 0.003, 0.002)  # -.50/.90/.07
VEG_DARK = spectrum(0.03, 0.06, 0.05, 0.20, 0.30, 0.30, 0.16, 0.07)  # 0.71 / -0.45 / 0.31
VEG_LUSH = spectrum(0.03, 0.07, 0.03, 0.30, 0.45, 0.46, 0.20, 0.08)  # 0.88 / -0.48 / 0.42
SOIL_DARK = spectrum(0.04, 0.05, 0.06, 0.08, 0.09, 0.09, 0.12, 0.09)  # 0.20 / -0.41 / 0.18
BRIGHT_1 = spectrum(*[0.6] * 8)  # 0 / 0 / 1.39
BRIGHT_2 = spectrum(*[0.7] * 8)  # 0 / 0 / 1.62
SNOW_WET_1 = spectrum(0.80, 0.78, 0.75, 0.60, 0.45, 0.44, 0.12, 0.08)  # -.25/.73/1.14
SNOW_WET_2 = spectrum(0.90, 0.90, 0.88, 0.70, 0.55, 0.54, 0.05, 0.03)  # -.23/.90/1.27
SNOW_1 = spectrum(0.80, 0.78, 0.74, 0.70, 0.70, 0.69, 0.10, 0.06)  # -0.03 / 0.77 / 1.26
SNOW_2 = spectrum(0.90, 0.90, 0.88, 0.75, 0.72, 0.72, 0.08, 0.05)  # -0.10 / 0.84 / 1.39
SNOW_DIM = spectrum(0.24, 0.24, 0.23, 0.21, 0.21, 0.21, 0.03, 0.02)  # -.05/.78/.385
VEG_BRIGHT = spectrum(0.03, 0.06, 0.04, 0.30, 0.45, 0.46, 0.22, 0.08)  # .84/-.57/.43
SNOW_NDSI_LOW = spectrum(0.80, 0.78, 0.74, 0.70, 0.70, 0.69, 0.40, 0.20)  # NDSI 0.32
SNOW_TCB_LOW = spectrum(0.10, 0.10, 0.09, 0.08, 0.08, 0.08, 0.01, 0.01)  # NDSI .82, TCB .15


def test_composite_satisfies_the_method_protocol() -> None:
    method: Method = Composite()
    assert method.name == "composite"
    assert method.needs_cloud_weight is False
    assert set(MEDOID_BANDS) <= set(method.extra_bands)
    assert {"nir08", "swir16", "swir22"} <= set(method.extra_bands)
    assert [q.key for q in method.quality] == [
        "date",
        "count",
        "method",
        "medoid_distance",
        "scl",
    ]
    method_layer = method.quality[2]
    assert method_layer.classes == {0: "none", 1: "single", 2: "stc", 3: "medoid"}


def test_quality_arrays_have_the_declared_dtypes() -> None:
    method = Composite()
    r = method.reduce(make_obs([VEG, VEG, CLOUD, VEG, VEG], [4, 4, 9, 4, 5]))
    for layer in method.quality:
        assert r.quality[layer.key].dtype == np.dtype(layer.dtype), layer.key
        assert r.quality[layer.key].shape == (1, 1)
    assert r.reflectance.dtype == np.float32
    assert r.reflectance.shape == (len(BANDS), 1, 1)


def test_medoid_ignores_a_bright_outlier_and_reports_the_mean_distance() -> None:
    # The central vegetation spectrum (t = 2) is 0.02 from each of three variants, each in
    # its own band, and the three variants are 0.02 * sqrt(2) apart: t = 2 is the medoid
    # even though an undetected cloud (SCL 5, valid) is among the five.
    central = list(VEG)
    variants = [list(central) for _ in range(3)]
    for k, band in enumerate((1, 4, 6)):
        variants[k][band] += 0.02
    spectra = [variants[0], CLOUD, central, variants[1], variants[2]]
    obs = make_obs(spectra, [4, 5, 4, 4, 4], days=[-20.0, -9.6, 1.4, 10.5, 19.0])
    r = Composite().reduce(obs)
    assert pixel(r, "method") == CompositeMethod.MEDOID
    assert pixel(r, "count") == 5
    assert_chose(obs, r, 2)
    assert pixel(r, "date") == 1
    # medoid_distance = sum_j ||x_j - x_2|| / n over the medoid bands, from the float32
    # reflectance the method sees (computed here in float64).
    x = stack_reflectance(obs)[:, [BANDS.index(b) for b in MEDOID_BANDS], 0, 0].astype(np.float64)
    expected = np.linalg.norm(x - x[2], axis=1).sum() / 5
    assert pixel(r, "medoid_distance") == pytest.approx(expected, rel=1e-6)


def test_medoid_tie_goes_to_the_earliest_observation() -> None:
    obs = make_obs([CLOUD, VEG, VEG, VEG, VEG], [9, 4, 4, 4, 4])
    r = Composite().reduce(obs)
    assert pixel(r, "method") == CompositeMethod.MEDOID
    assert_chose(obs, r, 1)
    assert pixel(r, "medoid_distance") == 0.0


def test_medoid_uses_only_the_loaded_medoid_bands() -> None:
    # No rededge2 loaded, and coastal and nir08 are not medoid bands: observation 1 differs
    # from 2 and 3 only there, so 1, 2 and 3 tie and the earliest (1) wins. Were nir08 or
    # coastal counted, 2 would be closer to the others than 1.
    bands = ("coastal", "blue", "green", "red", "nir", "nir08", "swir16", "swir22")
    base = [0.02, *[VEG[BANDS.index(b)] for b in bands[1:]]]
    spectra = [list(base) for _ in range(4)]
    spectra[0][bands.index("swir22")] += 0.05  # t = 0 is away from the three others
    spectra[1][bands.index("nir08")] += 0.05
    spectra[1][bands.index("coastal")] += 0.05
    obs = make_obs(spectra, [4, 4, 4, 4], bands=bands)
    r = Composite().reduce(obs)
    assert pixel(r, "method") == CompositeMethod.MEDOID
    assert_chose(obs, r, 1)
    assert r.reflectance.shape == (len(bands), 1, 1)


STC_CASES = {
    # name: (spectra, scl, expected observation or None, rule)
    "1-dry-stable-max-ndvi": ([SOIL, SOIL_BRIGHT_GREENER], [5, 5], 1, StcRule.DRY_MAX_NDVI),
    "2-water-max-mndwi": ([WATER_DARK, WATER_CLEAR], [6, 6], 1, StcRule.WATER_MAX_MNDWI),
    "3-vegetation-max-ndvi": ([VEG_DARK, VEG_LUSH], [4, 4], 1, StcRule.VEGETATION_MAX_NDVI),
    "4-lowest-tcb": ([VEG_LUSH, SOIL_DARK], [4, 5], 1, StcRule.LOWEST_TCB),
    "4-lowest-tcb-dark-area-3-obs": (
        [VEG_LUSH, SOIL_DARK, SOIL],
        [4, 2, 5],
        1,
        StcRule.LOWEST_TCB,
    ),
    "5-too-bright-nodata": ([BRIGHT_1, BRIGHT_2], [5, 5], None, StcRule.TOO_BRIGHT),
    "6-snow-wet-max-mndwi": ([SNOW_WET_1, SNOW_WET_2], [11, 11], 1, StcRule.SNOW),
    "6-snow-bright-min-ndvi": ([SNOW_1, SNOW_2], [11, 11], 1, StcRule.SNOW),
    "6-snow-else-max-ndvi": ([SNOW_DIM, VEG_BRIGHT], [11, 4], 1, StcRule.SNOW),
}


@pytest.mark.parametrize(("spectra", "scl", "expected", "rule"), STC_CASES.values(), ids=STC_CASES)
def test_short_term_composite_rule(
    spectra: list[list[float]], scl: list[int], expected: int | None, rule: StcRule
) -> None:
    obs = make_obs(spectra, scl, days=[-12.7, 3.2, 8.9][: len(spectra)])
    r = Composite().reduce(obs)
    assert pixel(r, "count") == len(spectra)
    assert pixel(r, "method") == CompositeMethod.STC
    assert np.isnan(pixel(r, "medoid_distance"))
    assert_chose(obs, r, expected)
    # The rule that decided, so a right answer cannot come from the wrong rule.
    rho = {b: obs.reflectance(b) for b in BANDS}
    index, decided = short_term_composite(
        np.ones(obs.scl.shape, dtype=bool),
        obs.scl == 11,
        ndvi(rho["red"], rho["nir"]),
        mndwi(rho["green"], rho["swir16"]),
        tcb(*(rho[b] for b in ("blue", "green", "red", "nir08", "swir16", "swir22"))),
    )
    assert decided[0, 0] == rule
    assert index[0, 0] == (-1 if expected is None else expected)


def test_short_term_composite_takes_the_lowest_tcb_when_no_rule_1_to_3_fits() -> None:
    # Same as rule 4's case, reversed in time: the choice follows the spectrum, not the order.
    obs = make_obs([SOIL_DARK, VEG_LUSH], [5, 4])
    assert_chose(obs, Composite().reduce(obs), 0)


@pytest.mark.parametrize(
    ("spectrum_", "valid"),
    [(SNOW_1, True), (SNOW_DIM, True), (SNOW_NDSI_LOW, False), (SNOW_TCB_LOW, False)],
    ids=["snow", "dim-snow-tcb-0.385", "ndsi-0.32", "tcb-0.15"],
)
def test_snow_is_valid_only_when_ndsi_above_0_6_and_tcb_above_0_36(
    spectrum_: list[float], valid: bool
) -> None:
    obs = make_obs([spectrum_], [11])
    r = Composite().reduce(obs)
    assert pixel(r, "count") == int(valid)
    assert_chose(obs, r, 0 if valid else None)
    if valid:
        assert pixel(r, "scl") == 11
    # The snow test applies to SCL snow only: the same spectrum as "not vegetated" is valid.
    assert pixel(Composite().reduce(make_obs([spectrum_], [5])), "count") == 1


@pytest.mark.parametrize(
    ("scl", "valid"),
    [(code, code in (2, 4, 5, 6)) for code in (0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 12, 255)],
)
def test_weak_1_validity_by_scl(scl: int, valid: bool) -> None:
    r = Composite().reduce(make_obs([VEG], [scl]))
    assert pixel(r, "count") == int(valid)
    assert pixel(r, "method") == (CompositeMethod.SINGLE if valid else CompositeMethod.NONE)


def test_an_observation_missing_any_band_is_invalid() -> None:
    holed = list(VEG)
    holed[BANDS.index("rededge2")] = float("nan")  # DN 0
    obs = make_obs([holed, VEG], [4, 4], days=[-3.0, 6.0])
    r = Composite().reduce(obs)
    assert pixel(r, "count") == 1
    assert_chose(obs, r, 1)


@pytest.mark.parametrize(
    ("n", "method"),
    [
        (0, CompositeMethod.NONE),
        (1, CompositeMethod.SINGLE),
        (2, CompositeMethod.STC),
        (3, CompositeMethod.STC),
        (4, CompositeMethod.MEDOID),
        (5, CompositeMethod.MEDOID),
    ],
)
def test_valid_count_selects_the_method(n: int, method: CompositeMethod) -> None:
    # n valid vegetation observations among five, the others cloud (SCL 9).
    obs = make_obs([VEG_DARK, VEG, VEG_LUSH, VEG, VEG_DARK], [4] * n + [9] * (5 - n))
    r = Composite().reduce(obs)
    assert pixel(r, "count") == n
    assert pixel(r, "method") == method
    assert np.isnan(r.reflectance).all() == (n == 0)
    assert np.isnan(pixel(r, "medoid_distance")) == (method != CompositeMethod.MEDOID)
    if n == 0:
        assert_chose(obs, r, None)


def test_date_is_the_chosen_observation_days_rounded_int16() -> None:
    obs = make_obs([VEG, VEG], [9, 4], days=[-10.4, -3.6])
    r = Composite().reduce(obs)
    assert r.quality["date"].dtype == np.int16
    assert pixel(r, "date") == -4
    none = Composite().reduce(make_obs([VEG], [9], days=[2.0]))
    assert pixel(none, "date") == DATE_NODATA == -32768


def test_zero_reflectance_gives_no_division_warning() -> None:
    # red = nir = 0 and green = swir16 = 0: both normalised differences are 0/0.
    zero = spectrum(0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0)
    for count in (1, 2, 4):
        r = Composite().reduce(make_obs([zero] * count, [5] * count))
        assert pixel(r, "count") == count
        assert not np.isnan(r.reflectance).any()


def test_every_block_band_is_returned_including_unordered_ones() -> None:
    bands = (*BANDS, "coastal", "rededge1")
    obs = make_obs([[*VEG, 0.02, 0.1]], [4], bands=bands)
    r = Composite().reduce(obs)
    np.testing.assert_array_equal(r.reflectance[:, 0, 0], stack_reflectance(obs)[0, :, 0, 0])


def test_missing_index_band_is_an_invalid_parameter() -> None:
    bands = tuple(b for b in BANDS if b != "nir08")
    obs = make_obs([[v for b, v in zip(BANDS, VEG, strict=True) if b != "nir08"]], [4], bands=bands)
    with pytest.raises(ValueError, match="nir08") as raised:
        Composite().reduce(obs)
    assert not isinstance(raised.value, InvalidParameter)  # a bug, not a 422


def test_no_observation_at_all_is_nodata() -> None:
    obs = make_obs(np.zeros((0, len(BANDS), 2, 3)), np.zeros((0, 2, 3)), days=[])
    r = Composite().reduce(obs)
    assert r.reflectance.shape == (len(BANDS), 2, 3)
    assert np.isnan(r.reflectance).all()
    assert (r.quality["date"] == DATE_NODATA).all()
    assert (r.quality["method"] == 0).all()


def random_block(seed: int, t_count: int = 7, shape: tuple[int, int] = (9, 11)) -> Observations:
    """Random spectra around a few surfaces, random SCL, some DN 0, some equal pixels."""
    rng = np.random.default_rng(seed)
    surfaces = np.array([VEG, SOIL, WATER_DARK, SNOW_1, CLOUD, SNOW_DIM, BRIGHT_1])
    pick = rng.integers(0, len(surfaces), size=(t_count, *shape))
    rho = np.moveaxis(surfaces[pick], -1, 1) + rng.normal(0, 0.01, (t_count, len(BANDS), *shape))
    rho = np.clip(rho, -0.05, 1.5)
    rho[rng.random(rho.shape) < 0.01] = np.nan
    scl = rng.choice(np.array([2, 4, 5, 6, 11, 3, 8, 9, 0]), size=(t_count, *shape))
    obs = make_obs(rho, scl, days=np.sort(rng.uniform(-23, 23, t_count)).tolist())
    # Some repeated observations, for ties.
    dn = obs.dn.copy()
    dn[1] = dn[0]
    return replace(obs, dn=dn)


@pytest.mark.parametrize("chunk", [(4, 5), (9, 11), (1, 3)])
def test_dask_map_blocks_equals_numpy(chunk: tuple[int, int]) -> None:
    obs = random_block(0)
    method = Composite()
    # Every method must be present for the check to mean something.
    assert set(np.unique(method.reduce(obs).quality["method"])) == {0, 1, 2, 3}
    assert_reductions_equal(reduce_with_dask(method, obs, chunk), method.reduce(obs))


@pytest.mark.parametrize("seed", [0, 1])
def test_medoid_on_gathered_pixels_equals_medoid_on_the_whole_block(
    seed: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    obs = random_block(seed)
    monkeypatch.setattr(composite, "_MEDOID_GATHER_SHARE", 0.0)  # always the whole block
    whole = Composite().reduce(obs)
    monkeypatch.setattr(composite, "_MEDOID_GATHER_SHARE", 2.0)  # always gathered pixels
    gathered = Composite().reduce(obs)
    assert (whole.quality["method"] == CompositeMethod.MEDOID).any()
    assert_reductions_equal(whole, gathered)


@pytest.mark.parametrize("share", [0.0, 2.0])
def test_medoid_chunks_and_strips_do_not_change_the_result(
    share: float, monkeypatch: pytest.MonkeyPatch
) -> None:
    obs = random_block(2, shape=(13, 7))
    monkeypatch.setattr(composite, "_MEDOID_GATHER_SHARE", share)
    reference = Composite().reduce(obs)
    monkeypatch.setattr(composite, "_MEDOID_CHUNK_ELEMENTS", 3 * 7 * 7)  # 3 px of 7 dates
    assert_reductions_equal(Composite().reduce(obs), reference)


def numpy_medoid_scores(features: npt.NDArray[np.float32],
                        valid: npt.NDArray[np.bool_]) -> npt.NDArray[np.float32]:
    """The medoid's scores in numpy, as the composite computed them before its kernel: the
    formulation the compiled one must reproduce bit for bit."""
    t_count = features.shape[0]
    f = np.where(valid[:, None], features, np.float32(0))
    weight = valid.astype(np.float32)
    score = np.zeros(valid.shape, dtype=np.float32)
    for i in range(t_count):
        for j in range(i + 1, t_count):
            diff = np.square(f[i] - f[j])
            dist = np.sqrt(np.sum(diff, axis=0)) * weight[i] * weight[j]
            score[i] += dist
            score[j] += dist
    score[~valid] = np.inf
    return score


@pytest.mark.parametrize("shape", [(1,), (256,), (2 * 256 + 37,), (9, 61)])
def test_the_compiled_medoid_scores_are_numpys_bit_for_bit(shape: tuple[int, ...]) -> None:
    # Strips of 256 pixels: one pixel, one whole strip, a last partial strip, 2-D pixels.
    rng = np.random.default_rng(7)
    t_count = 23
    features = rng.random((t_count, 7, *shape), dtype=np.float32) * 0.5
    valid = rng.random((t_count, *shape)) < 0.7
    features[~np.broadcast_to(valid[:, None], features.shape)] = np.nan  # nodata ignored
    valid[3], valid[5] = True, True
    features[3] = features[5] = rng.random((7, *shape), dtype=np.float32)  # identical spectra
    got = composite.medoid_scores(features, valid)
    expected = numpy_medoid_scores(features, valid)
    assert got.dtype == np.float32 and got.shape == (t_count, *shape)
    assert got.tobytes() == expected.tobytes()
    assert np.array_equal(got[3], got[5])
    assert np.isinf(got[~valid]).all() and np.isfinite(got[valid]).all()


def test_medoid_scores_of_two_observations_are_their_distance() -> None:
    features = np.array([[[0.1], [0.2]], [[0.4], [0.6]]], dtype=np.float32)  # (T=2, B=2, P=1)
    score = composite.medoid_scores(features, np.ones((2, 1), dtype=bool))
    assert score[:, 0] == pytest.approx([0.5, 0.5], rel=1e-6)  # sqrt(0.3^2 + 0.4^2)


def test_equal_inputs_give_byte_equal_outputs() -> None:
    a, b = Composite().reduce(random_block(1)), Composite().reduce(random_block(1))
    assert a.reflectance.tobytes() == b.reflectance.tobytes()
    for key in a.quality:
        assert a.quality[key].tobytes() == b.quality[key].tobytes()


def weak_1_valid(obs: Observations) -> npt.NDArray[np.bool_]:
    """The composite's validity, written independently for the invariants."""
    rho = stack_reflectance(obs)
    valid = np.isin(obs.scl, [2, 4, 5, 6, 11]) & ~np.isnan(rho).any(axis=1)
    b = {name: rho[:, i] for i, name in enumerate(obs.bands)}
    snow_ok = (ndsi(b["green"], b["swir16"]) > 0.6) & (
        tcb(b["blue"], b["green"], b["red"], b["nir08"], b["swir16"], b["swir22"]) > 0.36
    )
    result: npt.NDArray[np.bool_] = valid & ((obs.scl != 11) | snow_ok)
    return result


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    t_count=st.integers(0, 7),
    shape=st.tuples(st.integers(1, 4), st.integers(1, 4)),
    seed=st.integers(0, 2**32 - 1),
)
def test_output_is_one_valid_observation_or_nodata(
    t_count: int, shape: tuple[int, int], seed: int
) -> None:
    obs = random_block(seed, t_count, shape) if t_count >= 2 else None
    if obs is None:
        rng = np.random.default_rng(seed)
        random_rho = rng.uniform(-0.05, 1.0, (t_count, len(BANDS), *shape))
        scl = rng.choice(np.array([4, 5, 11, 9]), size=(t_count, *shape))
        obs = make_obs(random_rho, scl, days=rng.uniform(-23, 23, t_count).tolist())
    r = Composite().reduce(obs)
    rho = stack_reflectance(obs)
    valid = weak_1_valid(obs)
    count = valid.sum(axis=0)
    np.testing.assert_array_equal(r.quality["count"], count)
    expected_method = np.select([count >= 4, count >= 2, count == 1], [3, 2, 1], 0)
    np.testing.assert_array_equal(r.quality["method"], expected_method)
    for y, x in np.ndindex(*shape):
        out = r.reflectance[:, y, x]
        date, scl = r.quality["date"][y, x], r.quality["scl"][y, x]
        if np.isnan(out).all():
            assert date == DATE_NODATA and scl == 0
            # Only an empty pixel or rule 5 (two or three too-bright observations) is nodata.
            assert count[y, x] == 0 or 2 <= count[y, x] <= 3
            continue
        matches = [
            t
            for t in range(t_count)
            if valid[t, y, x]
            and np.array_equal(rho[t, :, y, x], out)
            and date == np.rint(obs.days[t])
            and scl == obs.scl[t, y, x]
        ]
        assert matches, (y, x)
        if r.quality["method"][y, x] == CompositeMethod.MEDOID:
            # The chosen observation minimises the summed distance (float64 brute force).
            idx = [BANDS.index(b) for b in MEDOID_BANDS]
            xs = rho[:, idx, y, x].astype(np.float64)[valid[:, y, x]]
            sums = np.linalg.norm(xs[:, None] - xs[None], axis=-1).sum(axis=1)
            got = r.quality["medoid_distance"][y, x] * count[y, x]
            assert got == pytest.approx(sums.min(), rel=1e-5, abs=1e-5)
        else:
            assert np.isnan(r.quality["medoid_distance"][y, x])
