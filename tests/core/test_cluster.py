"""``nsclean clean --scheduler`` and ``clean_on_cluster`` on a dask LocalCluster."""

from __future__ import annotations

import numpy as np
import pytest
from astropy.io import fits

from app.cli import main
from app.core.clean import CleanParams, clean
from app.core.errors import InputError
from app.core.mask.formats import write_nsclean_fits
from tests.core.products_factory import banded_frame, banded_ramp, write_product, write_ramp

distributed = pytest.importorskip("distributed")

SHAPE = (32, 2048)


def _mask():
    mask = np.ones(SHAPE, bool)
    mask[12:18] = False
    mask[:, :4] = mask[:, -4:] = False
    return mask


@pytest.fixture(scope="module")
def cluster():
    # threads in this process: quick to start on a busy machine, same code path as remote
    with distributed.LocalCluster(n_workers=1, threads_per_worker=2, processes=False,
                                  dashboard_address=None) as local:
        yield local


def test_clean_on_cluster_matches_local(tmp_path, cluster):
    from app.core.files.cluster import clean_on_cluster

    sources = [write_product(tmp_path / f"f{i}_rate.fits", banded_frame(i, SHAPE))
               for i in range(3)]
    bad = tmp_path / "bad_rate.fits"
    bad.write_text("not fits")
    jobs = [(s, tmp_path / f"{s.stem}_c.fits") for s in [sources[0], bad, *sources[1:]]]
    params = CleanParams(method="median")
    outcomes = list(clean_on_cluster(jobs, _mask(), cluster.scheduler_address, params=params))
    assert [o[2] for o in outcomes] == ["ok", "error", "ok", "ok"]
    assert "not a readable FITS file" in outcomes[1][3]
    for source in sources:
        got = fits.getdata(tmp_path / f"{source.stem}_c.fits", "SCI")
        expected = clean(fits.getdata(source, "SCI"), _mask(), "NRS1", "median").cleaned
        np.testing.assert_allclose(got, expected, atol=1e-6)
    assert not (tmp_path / "bad_rate_c.fits").exists()


def test_cli_scheduler_rates_and_a_ramp(tmp_path, cluster, capsys):
    rate = write_product(tmp_path / "a_rate.fits", banded_frame(5, SHAPE))
    ramp = write_ramp(tmp_path / "b_ramp.fits", banded_ramp(6, (1, 3, *SHAPE)))
    mask = write_nsclean_fits(tmp_path / "m.fits", _mask())
    status = main(["clean", str(rate), str(ramp), "--mask", str(mask), "--method", "median",
                   "--scheduler", cluster.scheduler_address, "--save-noise"])
    assert status == 0, capsys.readouterr().err
    assert (tmp_path / "a_rate_nsclean.fits").exists()
    assert fits.getheader(tmp_path / "b_ramp_nsclean.fits")["NSC_RAMP"] is True
    assert (tmp_path / "b_flicker_noise.fits").exists()


def test_unreachable_scheduler_one_message_nothing_written(tmp_path, capsys):
    rate = write_product(tmp_path / "u_rate.fits", banded_frame(7, SHAPE))
    mask = write_nsclean_fits(tmp_path / "m.fits", _mask())
    status = main(["clean", str(rate), "--mask", str(mask),
                   "--scheduler", "tcp://127.0.0.1:9"])
    err = capsys.readouterr().err
    assert status != 0
    assert err.count("cannot reach the dask scheduler at tcp://127.0.0.1:9") == 1
    assert "Traceback" not in err
    assert not (tmp_path / "u_rate_nsclean.fits").exists()


def test_connect_names_the_address():
    from app.core.files.cluster import connect

    with pytest.raises(InputError, match=r"tcp://127\.0\.0\.1:9"):
        connect("tcp://127.0.0.1:9", timeout=2)
