-- Relevance at 100,000 courses: "every search word in the title" first, then the other matches, newest
-- first in each. ts_rank scored every match before a page could be cut (a search for two common words
-- has ~25,000 matches: 200+ ms); two newest-first lists can each stop after one page.
ALTER TABLE courses
    ADD COLUMN title_search tsvector GENERATED ALWAYS AS (to_tsvector('english', title)) STORED;
-- GET /courses?q=… sorted by relevance: the courses whose title holds every search word
CREATE INDEX courses_catalog_search_by_title ON courses USING gin (title_search) WHERE published;
