"""explorer/reader/dates.py: dates in text, and a biography's birth and death dates."""

from __future__ import annotations

import pytest
from reader_records import known_wrong, load_train

from explorer.reader.dates import find_dates, life_dates


@pytest.fixture(scope="module")
def train():
    return load_train()


def _life(train, rid: str, title: str) -> tuple[str | None, str | None]:
    life = life_dates(train.paragraph(rid, title))
    return (life.birth.text if life.birth else None), (life.death.text if life.death else None)


@pytest.mark.real_data
@pytest.mark.parametrize(
    "rid, title, birth, death",
    [
        # "( 19 January 1922 – 27 December 2007)": day-month-year on both sides of the dash
        ("02566071084b11ebbd56ac1f6bf848b6", "Jerzy Kawalerowicz", "19 January 1922", "27 December 2007"),
        # American month-day-year
        ("02566071084b11ebbd56ac1f6bf848b6", "Jack Bernhard", "November 28, 1914", "March 30, 1997"),
        # "(born 16 March 1945)": alive, no death date
        ("38db40440bdd11eba7f7acde48001122", "Michael Cobb", "16 March 1945", None),
        # a year alone on one side, after a first parenthesis without a date ("(Telugu: ...) (1902 – ...)")
        ("3dc913040bda11eba7f7acde48001122", "Kadaru Nagabhushanam", "1902", "18 October 1976"),
        # a birth name before the dates: "(born Francesco Paolo LoVecchio; March 30, 1913 – February 6, 2007)"
        ("5d35d6800bdc11eba7f7acde48001122", "Frankie Laine", "March 30, 1913", "February 6, 2007"),
        # "(born Kulathupuzha, Kollam, 9 November 1943 – died Chennai, Tamil Nadu, 3 March 2005)"
        ("3be730820bdc11eba7f7acde48001122", "Raveendran", "9 November 1943", "3 March 2005"),
        # BC years with no dash: "(c. 400 BC 319 BC)"
        ("6a919fde0bb011ebab90acde48001122", "Antipater", "400 BC", "319 BC"),
        # "(died 309 BC)"
        ("4865d11c0bda11eba7f7acde48001122", "Cleomenes II", None, "309 BC"),
        pytest.param(
            "8d5aacce0bdb11eba7f7acde48001122", "Alfred Santell", "1895", "June 19, 1981",
            marks=known_wrong('the parenthesis "(1895–1981)" wins over the later "Santell died on June 19, 1981"'),
        ),
        pytest.param(
            "08a02c840bdb11eba7f7acde48001122", "Zayed bin Sultan Al Nahyan", "6 May 1918", "2 November 2004",
            marks=known_wrong('the opening "(" is missing ("Al Nahyan ; 6 May 1918 – ..."), so the '
                              'first dated parenthesis is his reign "(6 August 1966 – ...)"'),
        ),
        pytest.param(
            "a2b1ba1c08e411ebbda4ac1f6bf848b6", "Sacha Guitry", "21 February 1885", "24 July 1957",
            marks=known_wrong('the corpus glued the dates: "( 21 February 188524 July 1957)"'),
        ),
        pytest.param(
            "78d495f208df11ebbda0ac1f6bf848b6", "Zhang Liang (Western Han)", None, "186 BC",
            marks=known_wrong('"( 3rd century BC – 186 BC)": the only date, after the dash, is read as the birth'),
        ),
    ],
)  # fmt: skip
def test_life_dates_of_real_biographies(train, rid, title, birth, death):
    assert _life(train, rid, title) == (birth, death)


@pytest.mark.real_data
@known_wrong('"( c. 190s – c. 115 BC)": the era is read only where it is written, so 190 stays AD')
def test_an_era_after_the_death_date_also_dates_the_birth(train):
    life = life_dates(train.paragraph("4162ea6a0baf11ebab90acde48001122", "Cornelia (mother of the Gracchi)"))
    assert life.death.sort == (-115, 0, 0)
    assert life.birth.sort < life.death.sort


@pytest.mark.parametrize(
    "text, found",
    [
        ("It premiered on March 3, 1901 in Paris.", [("March 3, 1901", (1901, 3, 3))]),
        ("He was crowned on 9th April 1765.", [("9th April 1765", (1765, 4, 9))]),
        ("The siege of 399 BC ended in a truce.", [("399 BC", (-399, 0, 0))]),
        # counts and measures are no years
        ("The village had 1500 people and lies 2000 km from 3000 ft peaks.", []),
    ],
)
def test_find_dates(text, found):
    assert [(d.text, d.sort) for d in find_dates(text)] == found


def test_find_dates_only_starts_inside_the_window():
    text = "Born 1901. Died 1980."
    assert [d.text for d in find_dates(text, 0, 10)] == ["1901"]
    assert [d.text for d in find_dates(text, 10)] == ["1980"]


@pytest.mark.parametrize(
    "text, birth, death",
    [
        ("Max Huber (6 June 1906, Graz – 2 November 1994, Paris) was an Austrian director.", "6 June 1906", "2 November 1994"),
        ("Ann Lee (born 1920 in Leeds) was a British director.", "1920", None),
        # "-born" in the parenthesis is no birth/death dash
        ("Ivo Bek (German-born; 1 May 1900 – 2 June 1980) was a painter.", "1 May 1900", "2 June 1980"),
        # no parenthesis: "born ... <date>" and "died ... <date>" anywhere
        ("Ivo Bek was a painter. He was born in Split on 1 May 1900 and died on 2 June 1980.", "1 May 1900", "2 June 1980"),
    ],
)
def test_life_dates_edge_cases(text, birth, death):
    life = life_dates(text)
    assert (life.birth.text if life.birth else None, life.death.text if life.death else None) == (birth, death)
