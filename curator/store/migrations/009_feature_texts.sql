-- What a language model wrote about a feature run (curator.features.describe_run / principles_run):
-- kind 'descriptions' (a line and its held-out score per feature) or 'principles' (ICAI, with the
-- reconstruction accuracy). Appended; the newest row of a (run, kind) is the one shown.
CREATE TABLE feature_texts (
    run_id      VARCHAR NOT NULL,
    kind        VARCHAR NOT NULL CHECK (kind IN ('descriptions', 'principles')),
    model       VARCHAR NOT NULL,
    result      JSON NOT NULL,
    created_at  TIMESTAMP NOT NULL DEFAULT now()
);
