"""Rule-based 2WikiMultiHopQA reader: answer, rank chunks to open, decide when to stop.

It is all rules, nothing learned: regular expressions, word lists and a country table
(countries.tsv), standard library only, no weights and no randomness. The reading policies use
it three ways: `answer_question` (the answer from the passages read so far), `is_sufficient`
(whether a policy may stop reading) and `relevance` (which chunk to open next).

2Wiki questions are generated from a small set of templates over Wikidata triples, and the
gold paragraphs are Wikipedia openings that state those triples in stereotyped prose ("X is a
1935 Mexican film directed by Y", "Y (3 September 1901 - 29 May 1994) was a Chilean film
director"). So a CPU-only reader can get far with:

1. parsing the question into a small plan (`Query`): which entities, which relations to follow
   (film -> director, person -> father, ...), which attribute to read at the end, and for
   comparisons which way to compare;
2. finding each entity's paragraph by title (question spellings are Title Cased and may carry a
   "(1923 Film)" disambiguator, so titles are matched on a folded key);
3. following relations by cue phrases ("directed by", "son of", "married") and resolving the
   extracted name to another paragraph's title (the "bridge");
4. reading the attribute with per-attribute patterns (life dates in the opening parenthesis,
   "born in", demonyms, "died of", ...).

The public functions are pure and deterministic; work shared between `answer_question`,
`is_sufficient` and `relevance` is memoised on the (question, passages) tuples.

Modules, each importing only those above it:
- text: folded match keys, title bases, answer clean-up, sentence ends.
- countries: the country / demonym / region table (countries.tsv) and lookups in it.
- dates: dates in text and a biography's birth and death dates.
- names: the name after a cue phrase, and whether two spellings name the same person.
- paragraphs: chunks merged per title; question entities and names matched to paragraphs.
- relations: a relation's object (director, father, spouse, ...) and the bridge to its paragraph.
- places: birthplace and deathplace.
- attributes: nationality, country, cause of death, education, burial, employer, award,
  release date; `read_attr` picks the reader for a question's attribute.
- questions: the question parser (`parse_question`: template -> `Query`).
- solve: solving a plan on the paragraphs read; `answer_question` and `is_sufficient`.
- ranking: `relevance`, the chunk ranker.
"""

from explorer.reader.ranking import relevance
from explorer.reader.solve import answer_question, is_sufficient

__all__ = ["answer_question", "is_sufficient", "relevance"]
