"""explorer/reader/questions.py: a question's template as a plan (Query), one test per template."""

from __future__ import annotations

import pytest
from reader_records import load_train

from explorer.reader.paragraphs import merge_chunks
from explorer.reader.questions import Query, parse_question


@pytest.fixture(scope="module")
def train():
    return load_train()


def same(a: str, b: str, via: tuple[str, ...], attr: str) -> Query:
    return Query("same", (a, b), via, attr)


def compare(a: str, b: str, via: tuple[str, ...], attr: str, pick: str) -> Query:
    return Query("compare", (a, b), via, attr, pick)


def chain(entity: str, via: tuple[str, ...], attr: str, phrase: str) -> Query:
    return Query("chain", (entity,), via, attr, phrase=phrase)


@pytest.mark.real_data
@pytest.mark.parametrize(
    "rid, plan",
    [
        # --- yes/no: same country / nationality / place
        # "Are both villages, Beliševo and Datow Naseri, located in the same country?"
        ("02d0e9b5097a11ebbdb0ac1f6bf848b6", same("Beliševo", "Datow Naseri", (), "country")),
        # "Are Tabu Ley Rochereau and Sheldon Rampton of the same nationality?"
        ("0122a05208db11ebbd9cac1f6bf848b6", same("Tabu Ley Rochereau", "Sheldon Rampton", (), "nationality")),
        # "Does Donald Heiney have the same nationality as Song Binbin?"
        ("8ba2bb7008f611ebbdaaac1f6bf848b6", same("Donald Heiney", "Song Binbin", (), "nationality")),
        # "Do both films, Laali and Gayby, have the directors who are from the same country?"
        ("053f176a086811ebbd5eac1f6bf848b6", same("Laali", "Gayby", ("director",), "nationality")),
        # "Were both Jens Christian Hostrup and Tengiz Zamtaradze, born in the same place?"
        ("4c1cc2aa08df11ebbda0ac1f6bf848b6", same("Jens Christian Hostrup", "Tengiz Zamtaradze", (), "birthplace")),
        # --- which first / later, A or B
        # "Who was born first, Peter Przygodda or Inga Broberg?"
        ("03afa9c2087311ebbd66ac1f6bf848b6", compare("Peter Przygodda", "Inga Broberg", (), "birth", "min")),
        # "Who is younger, Stephane De Baets or Ahti Pekkala?"
        ("310b78a1087411ebbd67ac1f6bf848b6", compare("Stephane De Baets", "Ahti Pekkala", (), "birth", "max")),
        # "Who was born first out of France Adamič and Gary Gabelich?"
        ("0c54b79808f511ebbdaaac1f6bf848b6", compare("France Adamič", "Gary Gabelich", (), "birth", "min")),
        # "Who died first, Phil Emmanuel or Matiu Dickson?"
        ("1d5076b408a911ebbd7fac1f6bf848b6", compare("Phil Emmanuel", "Matiu Dickson", (), "death", "min")),
        # "Who lived longer, Constance Keys or Anthony De Jasay?"
        ("0eb42a82088211ebbd6dac1f6bf848b6", compare("Constance Keys", "Anthony De Jasay", (), "lifespan", "max")),
        # "Which film came out first, Matrimonium or Kaala Patthar?"
        ("582b1c8c094311ebbdaeac1f6bf848b6", compare("Matrimonium", "Kaala Patthar", (), "release", "min")),
        # the cue words are looked for outside the entity names: "Die schöne Lurette" is no death question
        ("50cc3746085411ebbd59ac1f6bf848b6", compare("Die schöne Lurette", "Sabhash", (), "release", "max")),
        # a comma inside an entity: "Which film came out earlier, In Again, Out Again or Free Willy 3: The Rescue?"
        ("5882d1bc094611ebbdaeac1f6bf848b6", compare("In Again, Out Again", "Free Willy 3: The Rescue", (), "release", "min")),
        # "Which film has the director born earlier, Blonde Ice or Shadow (1956 film)?"
        ("02566071084b11ebbd56ac1f6bf848b6", compare("Blonde Ice", "Shadow (1956 film)", ("director",), "birth", "min")),
        # --- compositional chains: relations, then an attribute
        # "When was the director of film The Pointing Finger (1919 Film) born?"
        ("0d9323500bda11eba7f7acde48001122", chain("The Pointing Finger (1919 Film)", ("director",), "birth", "director")),
        # "What is the date of birth of the director of film Sixteen Daughters And No Father?"
        ("0df769a80bdc11eba7f7acde48001122", chain("Sixteen Daughters And No Father", ("director",), "birth", "director")),
        # "When is the performer of song Sea Of Flags 's birthday?"
        ("686b98b80bdd11eba7f7acde48001122", chain("Sea Of Flags", ("performer",), "birth", "performer")),
        # "When did the director of film Society Girl (1932 Film) die?"
        ("02e1a5ce0bdc11eba7f7acde48001122", chain("Society Girl (1932 Film)", ("director",), "death", "director")),
        # "What is the date of death of Konstantin Kuzakov's father?"
        ("3531242c0bdd11eba7f7acde48001122", chain("Konstantin Kuzakov", ("father",), "death", "father")),
        # "Where was the director of film Food For Scandal born?"
        ("0e9b6c700bdb11eba7f7acde48001122", chain("Food For Scandal", ("director",), "birthplace", "director")),
        # "Where was the place of death of the director of film Smoke On The Potato Fields?"
        ("072c995a0bdb11eba7f7acde48001122", chain("Smoke On The Potato Fields", ("director",), "deathplace", "director")),
        # "Where was the place of burial of the performer of song There Is So Much World To See?"
        ("974409600bdb11eba7f7acde48001122", chain("There Is So Much World To See", ("performer",), "burial", "performer")),
        # "Which country the composer of song Silver Bells is from?"
        ("0786b6280bdc11eba7f7acde48001122", chain("Silver Bells", ("composer",), "nationality", "composer")),
        # "What nationality is the director of film T-Men?"
        ("0df6168a0bdb11eba7f7acde48001122", chain("T-Men", ("director",), "nationality", "director")),
        # "Why did the director of film The Little Hut die?"
        ("16af77a20bdc11eba7f7acde48001122", chain("The Little Hut", ("director",), "cause", "director")),
        # "Where did the director of film Alex Holeh Ahavah graduate from?"
        ("49dc4e380bdd11eba7f7acde48001122", chain("Alex Holeh Ahavah", ("director",), "education", "director")),
        # "Where does Julie Nixon Eisenhower's husband work at?"
        ("1b1a07980bdd11eba7f7acde48001122", chain("Julie Nixon Eisenhower", ("husband",), "employer", "husband")),
        # --- "Who is the <relation> of X?": the answer is a name
        # "Who is the spouse of the director of film Just Once A Great Lady (1957 Film)?"
        ("0e9419e40bda11eba7f7acde48001122", chain("Just Once A Great Lady (1957 Film)", ("director", "spouse"), "name", "spouse")),
        # "Who is the founder of the company that published Foom?"
        ("3a62d5760bdd11eba7f7acde48001122", chain("Foom", ("publisher", "founder"), "name", "founder")),
        # family relations as chains: a father-in-law is the spouse's father, an uncle the father's sibling
        ("c6a06bc60baf11ebab90acde48001122", chain("Iset Ta-Hemdjert", ("spouse", "father"), "name", "father-in-law")),
        ("298bfdd20baf11ebab90acde48001122", chain("Manuel Komnenos (Kouropalates)", ("father", "sibling"), "name", "uncle")),
        ("7f3a4ebe0baf11ebab90acde48001122", chain("Gaius Antonius (Brother Of Mark Antony)", ("mother", "father"), "name", "maternal grandfather")),
        # "Who is Hormizd I's paternal grandfather?"
        ("f16df9e60bae11ebab90acde48001122", chain("Hormizd I", ("father", "father"), "name", "paternal grandfather")),
    ],
)  # fmt: skip
def test_real_questions(train, rid, plan):
    assert parse_question(train.question(rid)) == plan


@pytest.mark.parametrize(
    "question, plan",
    [
        # family relations that train has no question for
        ("Who is the stepmother of Ivo Bek?", chain("Ivo Bek", ("father", "spouse"), "name", "stepmother")),
        ("Who is Ivo Bek's stepfather?", chain("Ivo Bek", ("mother", "spouse"), "name", "stepfather")),
        ("Who is the son-in-law of Ivo Bek?", chain("Ivo Bek", ("child", "spouse"), "name", "son-in-law")),
        ("Who is the sister-in-law of Ivo Bek?", chain("Ivo Bek", ("spouse", "sibling"), "name", "sister-in-law")),
        ("Who is the grandchild of Ivo Bek?", chain("Ivo Bek", ("child", "child"), "name", "grandchild")),
        ("What award did Ivo Bek receive?", chain("Ivo Bek", (), "award", "")),
        ("Where was Ivo Bek buried?", chain("Ivo Bek", (), "burial", "")),
        # "Who is X?" asks for no relation: no plan
        ("Who is Ivo Bek?", Query("unknown", (), (), "")),
        ("How many films did Ivo Bek make?", Query("unknown", (), (), "")),
    ],
)  # fmt: skip
def test_made_up_questions(question, plan):
    assert parse_question(question) == plan


def test_the_titles_read_choose_how_to_split_a_name_with_and():
    question = "Are Romeo and Juliet and Blue Lake from the same country?"
    # nothing read: the first " and " splits
    assert parse_question(question).entities == ("Romeo", "Juliet and Blue Lake")
    read = merge_chunks((("Romeo and Juliet (1954 film)", "Romeo and Juliet is a 1954 film."), ("Blue Lake", "A film.")))
    assert parse_question(question, read).entities == ("Romeo and Juliet", "Blue Lake")
