"""Postcode look-up from hand-made ONSPD and Code-Point Open files (tests/data/postcodes)."""

from __future__ import annotations

from pathlib import Path

import pytest

from geodata.postcodes import (
    PostcodeError,
    PostcodeFile,
    PostcodeFileError,
    normalise_postcode,
    read_postcodes,
)

DATA = Path(__file__).parent / "data" / "postcodes"
ONSPD = DATA / "onspd_sample.csv"
CODEPOINT = DATA / "codepoint"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("zz1 1aa", "ZZ1 1AA"),
        ("ZZ11AA", "ZZ1 1AA"),
        ("  ZZ1   1AA ", "ZZ1 1AA"),
        ("ZZ999AC", "ZZ99 9AC"),
        ("sw1a1aa", "SW1A 1AA"),
        ("B1  1AA", "B1 1AA"),
    ],
)
def test_postcodes_are_normalised_whatever_the_spacing_and_case(text: str, expected: str) -> None:
    assert normalise_postcode(text) == expected


@pytest.mark.parametrize("text", ["", "12345", "ZZ1", "ZZ1 1A", "Old depot", "ZZ1 1AA X"])
def test_text_that_is_not_a_postcode_is_refused(text: str) -> None:
    with pytest.raises(PostcodeError, match="not a UK postcode"):
        normalise_postcode(text)


def test_onspd_gives_lat_long_and_keeps_only_the_postcodes_asked_for() -> None:
    found = read_postcodes(ONSPD, ["zz11aa", "ZZ99 9AC", "ZZ1 9ZZ", "ZZ9 9NG", "QQ1 1QQ"])
    assert set(found) == {"ZZ1 1AA", "ZZ99 9AC", "ZZ1 9ZZ", "ZZ9 9NG"}  # the bad rows not asked
    location = found["ZZ1 1AA"].location
    assert location is not None
    assert (location.latitude, location.longitude) == (52.5, -1.1)
    assert found["ZZ1 9ZZ"].terminated == "2019-06"
    assert found["ZZ9 9NG"].location is None  # lat 99.999999: no grid reference


def test_codepoint_folder_is_converted_from_british_national_grid() -> None:
    found = read_postcodes(CODEPOINT, ["ZZ1 1AA", "ZZ1 1AB", "ZZ99 9AC", "ZZ9 9NG"])
    expected = {"ZZ1 1AA": (52.5, -1.1), "ZZ1 1AB": (52.25, 0.70), "ZZ99 9AC": (52.9, 1.6)}
    for postcode, (lat, lon) in expected.items():
        location = found[postcode].location
        assert location is not None
        # Grid references are whole metres: 1e-4 degrees is about 10 m.
        assert location.latitude == pytest.approx(lat, abs=1e-4)
        assert location.longitude == pytest.approx(lon, abs=1e-4)
    assert found["ZZ9 9NG"].location is None  # positional quality 90


def test_codepoint_with_its_header_row() -> None:
    found = read_postcodes(DATA / "codepoint_header.csv", ["ZZ1 1AB"])
    location = found["ZZ1 1AB"].location
    assert location is not None and location.latitude == pytest.approx(52.25, abs=1e-4)


def test_bad_rows_of_wanted_postcodes_name_file_row_and_field() -> None:
    with pytest.raises(PostcodeFileError) as info:
        read_postcodes(ONSPD, ["ZZ2 2BD", "ZZ2 2BE", "ZZ1 1AA"])
    problems = info.value.problems
    assert len(problems) == 2
    assert problems[0] == f"{ONSPD}, row 7, lat: 'abc' is not a number"
    assert problems[1] == f"{ONSPD}, row 8, doterm: '2020' is not a YYYYMM date"
    with pytest.raises(PostcodeFileError, match=r"zz\.csv, row 4, Eastings: 'abc'"):
        read_postcodes(CODEPOINT, ["ZZ2 2BD"])


def test_unrecognised_missing_and_empty_files(tmp_path: Path) -> None:
    with pytest.raises(PostcodeFileError, match="row 1: not an ONS Postcode Directory file"):
        read_postcodes(DATA / "not_postcodes.csv", ["ZZ1 1AA"])
    with pytest.raises(PostcodeFileError, match="no such file"):
        read_postcodes(tmp_path / "onspd.csv", ["ZZ1 1AA"])
    (tmp_path / "empty.csv").write_text("")
    with pytest.raises(PostcodeFileError, match="the file is empty"):
        read_postcodes(tmp_path / "empty.csv", ["ZZ1 1AA"])
    folder = tmp_path / "codepoint"
    folder.mkdir()
    with pytest.raises(PostcodeFileError, match=r"folder holds no \.csv"):
        read_postcodes(folder, ["ZZ1 1AA"])


def test_postcode_file_explains_unknown_terminated_and_ungridded_postcodes() -> None:
    lookup = PostcodeFile(ONSPD)
    lookup.prefetch(["ZZ1 1AA", "ZZ1 9ZZ", "ZZ9 9NG", "QQ1 1QQ", "not one"])
    assert lookup.locate("zz1 1aa").latitude == 52.5
    with pytest.raises(PostcodeError, match=r"'QQ1 1QQ' is not in onspd_sample\.csv"):
        lookup.locate("QQ11QQ")
    with pytest.raises(PostcodeError, match=r"'ZZ1 9ZZ' was terminated in 2019-06"):
        lookup.locate("ZZ1 9ZZ")
    with pytest.raises(PostcodeError, match="has no grid reference"):
        lookup.locate("ZZ9 9NG")
    with pytest.raises(PostcodeError, match="not a UK postcode"):
        lookup.locate("not one")
    assert set(lookup.cached) == {"ZZ1 1AA", "ZZ1 9ZZ", "ZZ9 9NG"}


def test_postcode_file_reads_the_file_once_per_batch(monkeypatch: pytest.MonkeyPatch) -> None:
    import geodata.postcodes as postcodes

    reads: list[set[str]] = []
    real = postcodes.read_postcodes

    def counting(path: Path, wanted: set[str]) -> dict[str, postcodes.PostcodeRecord]:
        reads.append(set(wanted))
        return real(path, wanted)

    monkeypatch.setattr(postcodes, "read_postcodes", counting)
    lookup = PostcodeFile(ONSPD)
    lookup.prefetch(["ZZ1 1AA", "QQ1 1QQ"])
    lookup.locate("ZZ1 1AA")
    with pytest.raises(PostcodeError):
        lookup.locate("QQ1 1QQ")  # a remembered miss: no second read
    lookup.locate("ZZ1 1AB")
    assert reads == [{"ZZ1 1AA", "QQ1 1QQ"}, {"ZZ1 1AB"}]
