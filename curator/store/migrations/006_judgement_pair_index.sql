-- Point lookups of one pair's judgements (the vote summary of the pair a label touched, the
-- claim's check of an annotator's labels on a few candidate pairs) use this index instead of
-- scanning the whole log. Judgements are never updated, so the index only costs on insert.
CREATE INDEX judgements_pair_id ON judgements (pair_id)
