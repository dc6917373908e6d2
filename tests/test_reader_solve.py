"""The public API of explorer/reader (answer_question, is_sufficient, relevance) on real 2Wiki
questions with their gold paragraphs, one question per template, and on small made-up cases."""

from __future__ import annotations

import pytest
from reader_records import known_wrong, load_train

from explorer.reader import answer_question, is_sufficient, relevance


@pytest.fixture(scope="module")
def train():
    return load_train()


@pytest.mark.real_data
@pytest.mark.parametrize(
    "rid, answer",
    [
        ("0e1def66089d11ebbd78ac1f6bf848b6", "yes"),  # Sunshine State and Massive Retaliation: from the same country?
        ("2a3012cc086811ebbd5eac1f6bf848b6", "yes"),  # the directors of Mission: Impossible III and The Money Changers
        ("03afa9c2087311ebbd66ac1f6bf848b6", "Inga Broberg"),  # born first
        ("02566071084b11ebbd56ac1f6bf848b6", "Blonde Ice"),  # the film whose director was born earlier
        ("1d5076b408a911ebbd7fac1f6bf848b6", "Matiu Dickson"),  # died first
        ("0eb42a82088211ebbd6dac1f6bf848b6", "Anthony De Jasay"),  # lived longer
        ("582b1c8c094311ebbdaeac1f6bf848b6", "Kaala Patthar"),  # came out first
        ("0d9323500bda11eba7f7acde48001122", "December 10, 1885"),  # the director's birth date
        ("3531242c0bdd11eba7f7acde48001122", "5 March 1953"),  # the father's death date
        ("0e9b6c700bdb11eba7f7acde48001122", "Ogden"),  # where the director was born
        ("072c995a0bdb11eba7f7acde48001122", "Prague"),  # where the director died
        ("0650a7600bdb11eba7f7acde48001122", "American"),  # the director's nationality
        ("16af77a20bdc11eba7f7acde48001122", "heart attack"),  # why the director died
        ("49dc4e380bdd11eba7f7acde48001122", "London Film School"),  # where the director studied
        ("1b1a07980bdd11eba7f7acde48001122", "University of Pennsylvania"),  # where the husband works
        ("0e9419e40bda11eba7f7acde48001122", "Hilde Volk"),  # the director's spouse
        ("3a62d5760bdd11eba7f7acde48001122", "Martin Goodman"),  # founder of the company that published Foom
        ("27e8899a0bb011ebab90acde48001122", "Princess Maria Immaculata of Bourbon-Two Sicilies"),  # mother-in-law
        ("298bfdd20baf11ebab90acde48001122", "Isaac I Komnenos"),  # uncle: the father's brother
        ("7f3a4ebe0baf11ebab90acde48001122", "Lucius Julius Caesar"),  # maternal grandfather
        pytest.param(
            "974409600bdb11eba7f7acde48001122", "Graceland",
            marks=known_wrong('"he died suddenly in 1977 at his Graceland estate": "his" ends the place search, so the '
                              "birthplace (Tupelo) stands in for the burial place"),
        ),
    ],
)  # fmt: skip
def test_answers_on_the_gold_paragraphs(train, rid, answer):
    question, gold = train.question(rid), train.gold_passages(rid)
    assert answer_question(question, gold) == answer
    assert is_sufficient(question, gold)


def _chunks(train, rid: str) -> list[tuple[str, str, str]]:
    """(title, preview, text) of each paragraph of the record; the preview is its first 24 words."""
    out = []
    for title, _ in train.records[rid]["context"]:
        text = train.paragraph(rid, title)
        out.append((title, " ".join(text.split()[:24]), text))
    return out


def _best(question: str, chunks, read: list[tuple[str, str]]) -> str:
    read_titles = {t for t, _ in read}
    unread = [c for c in chunks if c[0] not in read_titles]
    return max(unread, key=lambda c: relevance(question, c[0], c[1], read))[0]


@pytest.mark.real_data
def test_reading_a_compositional_question_hop_by_hop(train):
    rid = "0e9b6c700bdb11eba7f7acde48001122"  # "Where was the director of film Food For Scandal born?"
    question, chunks = train.question(rid), _chunks(train, rid)
    # the question names the film: its chunk first
    assert _best(question, chunks, []) == "Food for Scandal"
    read = train.passages(rid, "Food for Scandal")
    assert not is_sufficient(question, read)
    # the film's paragraph names its director: the bridge chunk next, among 9 unread
    assert _best(question, chunks, read) == "James Cruze"
    read += train.passages(rid, "James Cruze")
    assert is_sufficient(question, read)
    assert answer_question(question, read) == "Ogden"


@pytest.mark.real_data
def test_a_comparison_through_directors_needs_all_four_paragraphs(train):
    rid = "02566071084b11ebbd56ac1f6bf848b6"  # "Which film has the director born earlier, Blonde Ice or Shadow (1956 film)?"
    question = train.question(rid)
    titles = ["Blonde Ice", "Shadow (1956 film)", "Jack Bernhard", "Jerzy Kawalerowicz"]
    for n in range(1, 4):
        assert not is_sufficient(question, train.passages(rid, *titles[:n]))
    assert is_sufficient(question, train.passages(rid, *titles))


def test_a_later_chunk_of_a_paragraph_is_worth_opening_while_the_plan_is_stuck_there():
    question = "When was Ivo Bek born?"
    later_chunk = ("Ivo Bek", "He was born on 1 May 1900 in Split.")
    stuck = relevance(question, *later_chunk, [("Ivo Bek", "Ivo Bek was a Croatian painter.")])
    done = relevance(question, *later_chunk, [("Ivo Bek", "Ivo Bek (1 May 1900 – 2 June 1980) was a Croatian painter.")])
    assert stuck - done == pytest.approx(5.0)


@pytest.mark.parametrize(
    "question, guess",
    [
        ("Are Red Hill and Blue Lake both located in the same country?", "no"),  # the majority answer
        ("Who was born first, Ivo Bek or Ana Horvat?", "Ivo Bek"),  # the first option
        ("Where was the director of film Blue Lake born?", "Blue Lake"),  # a name from the question
    ],
)
def test_a_guess_when_nothing_was_read(question, guess):
    assert answer_question(question, []) == guess
    assert not is_sufficient(question, [])


def test_a_comparison_with_one_side_unknown_answers_the_side_it_can_see():
    question = "Who was born first, Ivo Bek or Ana Horvat?"
    read = [("Ana Horvat", "Ana Horvat (born 3 May 1950) is a singer."), ("Ivo Bek", "Ivo Bek is a painter.")]
    assert answer_question(question, read) == "Ana Horvat"
    assert not is_sufficient(question, read)


def test_a_question_without_a_plan_is_sufficient_after_three_paragraphs():
    question = "How many films did Ivo Bek make?"
    read = [(f"Paragraph {i}", "Some text.") for i in range(3)]
    assert not is_sufficient(question, read[:2])
    assert is_sufficient(question, read)
