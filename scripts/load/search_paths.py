#!/usr/bin/env python3
"""Diverse catalog searches for SCENARIO=search: COUNT paths of /courses, one a line, each two different
words of a 16-word vocabulary, a page from 1 to 5, any sort and any level (or none).

The vocabulary mixes words of the seeded 100,000-course catalog by how many courses hold them (counted
with ts_stat on a `seed --courses 100000` database): five in more than half the courses (two of them find
~25,000 courses, the searches that used to be slow), five in 8-20 % and six in 1-4 %, so the searches
range from thousands of matches to a few dozen. A fixed seed gives the same paths every run.

Usage: search_paths.py COUNT [SEED] > paths.txt
"""
import random
import sys
import urllib.parse

VOCABULARY = [
    # in more than half the courses (the paragraphs' words)
    "project", "performance", "exercise", "design", "production",
    # in 8-20 %
    "engineering", "tutorial", "learning", "machine", "beginners",
    # in 1-4 %, mostly in titles
    "world", "testing", "security", "web", "data", "kafka",
]
SORTS = ["", "relevance", "newest", "price_asc", "price_desc"]
LEVELS = ["", "beginner", "intermediate", "advanced"]


def paths(count, seed):
    dice = random.Random(seed)
    for _ in range(count):
        words = dice.sample(VOCABULARY, 2)
        params = [("q", " ".join(words))]
        level, sort, page = dice.choice(LEVELS), dice.choice(SORTS), dice.randint(1, 5)
        if level:
            params.append(("level", level))
        if sort:
            params.append(("sort", sort))
        if page > 1:
            params.append(("page", str(page)))
        yield "/courses?" + urllib.parse.urlencode(params)


if __name__ == "__main__":
    count = int(sys.argv[1])
    seed = int(sys.argv[2]) if len(sys.argv) > 2 else 1
    for path in paths(count, seed):
        print(path)
