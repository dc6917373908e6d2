"""The question parser: a 2Wiki question's template as a plan (`Query`).

2Wiki questions come from a few templates over Wikidata triples, so a handful of patterns
covers them: "same nationality / country / place" yes-no comparisons ("Are A and B both from
the same country?"), "which first / later, A or B" comparisons of a date or a lifespan
("Who died first, A or B?", "Which film came out first, X or Y?"), and compositional chains,
a relation path then an attribute ("Where was the director of film X born?", "Who is the
father-in-law of X?": spouse, then father)."""

from __future__ import annotations

import re
from functools import lru_cache
from typing import NamedTuple

from explorer.reader.paragraphs import Para, match_score


class Query(NamedTuple):
    """A question's plan: which entities, which relations to follow from each, which
    attribute to read at the end, and for comparisons which way to compare."""

    kind: str  # "compare" | "same" | "chain" | "unknown"
    entities: tuple[str, ...]
    via: tuple[str, ...]  # relations followed from each entity before reading `attr`
    attr: str  # birth | death | release | lifespan | nationality | country | birthplace |
    # deathplace | cause | education | burial | employer | award | name
    pick: str = ""  # compare: "min" | "max"
    phrase: str = ""  # chain: the question's outermost relation words ("mother-in-law")


# relation words in questions -> relation chain (applied left to right)
_REL_PHRASES = {
    "director": ("director",),
    "directors": ("director",),
    "composer": ("composer",),
    "performer": ("performer",),
    "producer": ("producer",),
    "founder": ("founder",),
    "publisher": ("publisher",),
    "father": ("father",),
    "mother": ("mother",),
    "husband": ("husband",),
    "wife": ("wife",),
    "spouse": ("spouse",),
    "paternal grandfather": ("father", "father"),
    "paternal grandmother": ("father", "mother"),
    "maternal grandfather": ("mother", "father"),
    "maternal grandmother": ("mother", "mother"),
    "father-in-law": ("spouse", "father"),
    "mother-in-law": ("spouse", "mother"),
    "stepmother": ("father", "spouse"),
    "stepfather": ("mother", "spouse"),
    "uncle": ("father", "sibling"),
    "aunt": ("father", "sibling"),
    "sibling-in-law": ("spouse", "sibling"),
    "brother-in-law": ("spouse", "sibling"),
    "sister-in-law": ("spouse", "sibling"),
    "son-in-law": ("child", "spouse"),
    "daughter-in-law": ("child", "spouse"),
    "child-in-law": ("child", "spouse"),
    "grandchild": ("child", "child"),
    "grandson": ("child", "child"),
    "granddaughter": ("child", "child"),
    "child": ("child",),
    "son": ("child",),
    "daughter": ("child",),
    "sibling": ("sibling",),
    "brother": ("sibling",),
    "sister": ("sibling",),
    "company that published": ("publisher",),
    "company that produced": ("producer",),
    "published": ("publisher",),
    "produced": ("producer",),
    "released": ("publisher",),
    "distributed": ("publisher",),
    "founded": ("founder",),
    "created": ("founder",),
    "creator": ("founder",),
}
_REL_ALT = "|".join(re.escape(k) for k in sorted(_REL_PHRASES, key=len, reverse=True))
_OF_REL = re.compile(
    rf"^(?:the\s+)?({_REL_ALT})\s+of\s+(?:(?:the\s+)?(?:film|song|album|university|company|"
    rf"band|book|novel|magazine|movie|group|work|show|play|series|organization)\s+(?!that\b))?"
    rf"(.+)$",
    re.I,
)
_THAT_REL = re.compile(
    r"^(?:the\s+)?(?:company|organization|organisation|label|studio|firm)\s+that\s+"
    r"(published|produced|released|distributed|founded|created)\s+(.+)$",
    re.I,
)
_POSS_REL = re.compile(rf"^(.+?)\s*['’]s\s+({_REL_ALT})$", re.I)

_CHAIN_TEMPLATES = [
    (r"^when\s+is\s+(?P<s>.+?)\s*['’]s\s+birthday$", "birth"),
    (r"^when\s+(?:was|is|were)\s+(?P<s>.+?)\s+born$", "birth"),
    (r"^what\s+is\s+the\s+(?:date\s+of\s+birth|birth\s*date|birthday)\s+of\s+(?P<s>.+)$", "birth"),
    (r"^when\s+did\s+(?P<s>.+?)\s+(?:die|pass away)$", "death"),
    (r"^what\s+is\s+the\s+date\s+of\s+death\s+of\s+(?P<s>.+)$", "death"),
    (r"^where\s+(?:was|is)\s+(?P<s>.+?)\s+born$", "birthplace"),
    (r"^(?:what|where)\s+(?:is|was)\s+the\s+place\s+of\s+birth\s+of\s+(?P<s>.+)$", "birthplace"),
    (r"^where\s+did\s+(?P<s>.+?)\s+die$", "deathplace"),
    (r"^(?:what|where)\s+(?:is|was)\s+the\s+place\s+of\s+death\s+of\s+(?P<s>.+)$", "deathplace"),
    (r"^(?:what|where)\s+(?:is|was)\s+the\s+place\s+of\s+burial\s+of\s+(?P<s>.+)$", "burial"),
    (r"^where\s+(?:was|is)\s+(?P<s>.+?)\s+buried$", "burial"),
    (
        r"^which\s+country\s+(?:is\s+|does\s+|did\s+|was\s+)?(?P<s>.+?)\s+(?:is|was|come)?\s*"
        r"from$",
        "nationality",
    ),
    (r"^what\s+(?:is\s+the\s+)?nationality\s+(?:is|was|of)\s+(?P<s>.+)$", "nationality"),
    (r"^why\s+did\s+(?P<s>.+?)\s+die$", "cause"),
    (r"^what\s+(?:is|was)\s+the\s+cause\s+of\s+death\s+of\s+(?P<s>.+)$", "cause"),
    (
        r"^where\s+did\s+(?P<s>.+?)\s+(?:study|graduate(?:\s+from)?|get\s+educated|go\s+to\s+"
        r"(?:school|college|university)|receive\s+(?:his|her)\s+education)$",
        "education",
    ),
    (r"^where\s+(?:does|did)\s+(?P<s>.+?)\s+work(?:\s+at)?$", "employer"),
    (
        r"^(?:which|what)\s+awards?\s+(?:did|does|was)\s+(?P<s>.+?)\s+(?:receive|win|get|"
        r"given)$",
        "award",
    ),
    (r"^what\s+is\s+the\s+award\s+that\s+(?P<s>.+?)\s+(?:got|received|won)$", "award"),
    (r"^(?:which|what)\s+awards?\s+(?P<s>.+?)\s+(?:got|received|won|get|receive|win)$", "award"),
    (r"^who\s+(?:is|was|are)\s+(?P<s>.+)$", "name"),
]
_CHAIN_RES = [(re.compile(p, re.I), a) for p, a in _CHAIN_TEMPLATES]


def _parse_subject(s: str) -> tuple[str, tuple[str, ...], str]:
    """ "the mother of the director of film X" -> ("X", ("director", "mother"), "mother")."""
    s = s.strip().rstrip(",")
    for pattern, ent_group, rel_group in ((_OF_REL, 2, 1), (_THAT_REL, 2, 1), (_POSS_REL, 1, 2)):
        m = pattern.match(s)
        if m:
            ent, rels, _ = _parse_subject(m.group(ent_group))
            phrase = m.group(rel_group).lower()
            return ent, rels + _REL_PHRASES[phrase], phrase
    return s, (), ""


# ---- comparisons
_SAME_CUE = re.compile(r"\bsame\s+(?:nationality|country|place)\b|\bboth\s+from\b", re.I)
_SAME_TAILS = [
    " have the same nationality",
    " share the same",
    " both located",
    ", located",
    " located",
    " both from",
    ", both from",
    " from the same",
    ", from the same",
    " of the same",
    " have the same",
    ", originate",
    " originate",
    ", have the directors",
    " have the directors",
    " films have",
    ", born in",
    " born in the same",
    " both have",
    ", have ",
    " share ",
    ", both",
    " both born",
    " have the director",
    " both ",
    " the same",
]
_SAME_HEAD = re.compile(r"^(?:are|do|did|does|were|was|is)\s+", re.I)
_LEAD_FILLER = re.compile(
    r"^(?:(?:both|the|of|director|directors|films?|movies?|films?:|directors?\s+of\s+"
    r"(?:both\s+)?films?)\s+|[a-z][a-z ]*?[a-z]s[,:]\s+)+"
)


def _strip_filler(s: str) -> str:
    s = s.strip().strip(",:").strip()
    prev = None
    while prev != s:
        prev = s
        s = _LEAD_FILLER.sub("", s).strip().strip(",:").strip()
    return s


def _splits(region: str, sep: str) -> list[tuple[str, str]]:
    out = []
    for m in re.finditer(re.escape(sep), region):
        a, b = _strip_filler(region[: m.start()]), _strip_filler(region[m.end() :])
        b = re.sub(r"\s+films?$", "", b)
        if a and b:
            out.append((a.rstrip(","), b.rstrip(",")))
    return out


def _pick_split(cands: list[tuple[str, str]], titles: tuple[Para, ...]) -> tuple[str, str]:
    """Entity names may contain "and"/"or"/commas; pick the split whose halves best name
    chunk titles (the first split when nothing has been read)."""
    if not cands:
        return "", ""
    if len(cands) == 1 or not titles:
        return cands[0]

    def score(c: tuple[str, str]) -> float:
        return sum(max((match_score(e, p) for p in titles), default=0.0) for e in c)

    return max(cands, key=score)


@lru_cache(maxsize=8192)
def parse_question(question: str, titles: tuple[Para, ...] = ()) -> Query:
    """The question's plan. `titles` (paragraphs read so far) only break ties between ways
    of splitting "A and B" when an entity name itself contains "and"."""
    q = " ".join(question.split())
    q_nomark = re.sub(r"\s*\?+\s*$", "", q).strip()
    low = q_nomark.lower()

    # --- "same nationality / country / place" yes-no comparisons
    if _SAME_CUE.search(q_nomark) and re.match(r"(?:are|do|did|does|were|was|is)\b", low):
        via = ("director",) if "director" in low else ()
        if "place" in low and "born" in low:
            attr = "birthplace"
        elif "nationality" in low or via:
            attr = "nationality"
        else:
            attr = "country"
        m = re.match(
            r"^(?:does|did|do|is|was)\s+(.+?)\s+have\s+the\s+same\s+nationality\s+as\s+"
            r"(.+)$",
            q_nomark,
            re.I,
        )
        if m:
            return Query("same", (m.group(1), m.group(2)), via, attr)
        region = _SAME_HEAD.sub("", q_nomark)
        cut = len(region)
        for tail in _SAME_TAILS:
            i = region.find(tail)
            if 0 < i < cut and (" and " in region[:i] or " And " in region[:i]):
                cut = i
        region = region[:cut]
        cands = _splits(region, " and ") or _splits(region, " And ")
        a, b = _pick_split(cands, titles)
        return Query("same", (a, b) if a else (), via, attr)

    # --- "which/who ... first/later, A or B?" comparisons. Look for the cue words outside
    # the entity names ("Die schöne Lurette" is no death question).
    head = re.split(r",\s| out of ", low, maxsplit=1)[0] if re.match(r"(?:which|who)", low) else low
    cmp_attr = ""
    if re.search(r"\b(?:born|older|younger|age)\b", head):
        cmp_attr = "birth"
    elif re.search(r"\b(?:died|die|death)\b", head):
        cmp_attr = "death"
    elif "lived longer" in head or "live longer" in head:
        cmp_attr = "lifespan"
    elif re.search(
        r"\b(?:came out|released|published|come out|premiered|made|founded|"
        r"established|formed)\b",
        head,
    ):
        cmp_attr = "release"
    is_cmp = bool(cmp_attr) and (re.match(r"(?:which|who|whose)\b", low) or re.match(r"(?:was|is|did)\s.+\bor\b", low))
    if is_cmp and (" or " in q_nomark or " and " in q_nomark):
        via = ("director",) if re.search(r"\bdirector\b", low) else ()
        if re.search(r"\b(?:later|more recently|younger|last|recent|latest|longer)\b", head):
            pick = "max"
        else:
            pick = "min"
        region = ""
        m = re.match(
            r"^(?:was|is|did)\s+(.+?)\s+(?:born|die|died|released|older|younger|"
            r"the\s+older|the\s+younger)\b",
            q_nomark,
            re.I,
        )
        if m and " or " in m.group(1):
            region = m.group(1)
        elif " out of " in q_nomark:
            region = q_nomark.split(" out of ", 1)[1]
        elif ", " in q_nomark:
            region = q_nomark.split(", ", 1)[1]
        elif " between " in q_nomark:
            region = q_nomark.split(" between ", 1)[1]
        cands = _splits(region, " or ") or _splits(region, " and ")
        a, b = _pick_split(cands, titles)
        return Query("compare", (a, b) if a else (), via, cmp_attr, pick)

    # --- compositional / inference chains
    for cre, attr in _CHAIN_RES:
        m = cre.match(q_nomark)
        if m:
            ent, rels, phrase = _parse_subject(m.group("s"))
            if attr == "name" and not rels:
                break
            return Query("chain", (ent,), rels, attr, phrase=phrase)
    return Query("unknown", (), (), "")
