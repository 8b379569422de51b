-- Per-pair judgement summary, kept up to date by the store whenever judgements are written (ingest,
-- append_judgements), so browse filters and sorts on judgements read a column of pairs instead of
-- aggregating the whole judgements log on every page view. Derived data: the log stays the truth.
ALTER TABLE pairs ADD COLUMN n_judgements INTEGER NOT NULL DEFAULT 0;
ALTER TABLE pairs ADD COLUMN n_human INTEGER NOT NULL DEFAULT 0;
ALTER TABLE pairs ADD COLUMN n_ai INTEGER NOT NULL DEFAULT 0;
ALTER TABLE pairs ADD COLUMN disagree BOOLEAN NOT NULL DEFAULT false;
UPDATE pairs SET n_judgements = v.n_judgements, n_human = v.n_human, n_ai = v.n_ai, disagree = v.disagree
FROM (
    WITH counts AS (
        SELECT pair_id, count(*) AS n_judgements, count(*) FILTER (WHERE kind = 'human') AS n_human,
               count(*) FILTER (WHERE kind = 'ai') AS n_ai
        FROM judgements GROUP BY pair_id),
    latest AS (SELECT pair_id, kind, annotator, arg_max_null(choice, judgement_id) AS choice
               FROM judgements GROUP BY pair_id, kind, annotator),
    votes AS (SELECT pair_id, choice FROM latest WHERE choice IS NOT NULL
              UNION ALL SELECT p.pair_id, p.label FROM pairs p JOIN counts c ON c.pair_id = p.pair_id
              WHERE p.label IS NOT NULL),
    dis AS (SELECT pair_id, count(DISTINCT choice) > 1 AS disagree FROM votes GROUP BY pair_id)
    SELECT c.*, coalesce(d.disagree, false) AS disagree FROM counts c LEFT JOIN dis d ON d.pair_id = c.pair_id
) v WHERE pairs.pair_id = v.pair_id
