-- An integer key per pair for the text search index (curator/store/search.py): the index returns
-- matching keys, which join pairs far cheaper than pair_id strings. New pairs draw theirs from the
-- sequence on insert; existing pairs get one here.
CREATE SEQUENCE pair_search_key_seq;
ALTER TABLE pairs ADD COLUMN search_key BIGINT DEFAULT nextval('pair_search_key_seq');
