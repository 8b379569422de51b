-- Interpretable preference features (curator.signals.features): one run per (dataset version, config).
CREATE TABLE feature_runs (
    run_id           VARCHAR PRIMARY KEY,
    dataset          VARCHAR NOT NULL,
    dataset_version  INTEGER NOT NULL,
    cache_key        VARCHAR NOT NULL,
    params           JSON,
    summary          JSON,     -- probe / feature AUCs, explained share, counts, seconds
    n_pairs          INTEGER,
    created_at       TIMESTAMP NOT NULL DEFAULT now()
);

CREATE TABLE features (
    run_id        VARCHAR NOT NULL,
    latent        INTEGER NOT NULL,
    status        VARCHAR NOT NULL CHECK (status IN ('feature', 'dead', 'duplicate')),
    duplicate_of  INTEGER,
    prevalence    DOUBLE,
    coef          DOUBLE,      -- > 0: annotators prefer the response with more of it
    coef_low      DOUBLE,
    coef_high     DOUBLE,
    p_value       DOUBLE,
    significant   BOOLEAN,     -- Bonferroni over the latents
    selected      BOOLEAN,     -- picked by the sparse label model and significant
    direction     VARCHAR,
    name          VARCHAR,
    terms         JSON,
    length_ratio  DOUBLE,
    top_pairs     JSON,        -- pair ids, strongest activation first
    PRIMARY KEY (run_id, latent)
);

-- Non-zero activations only (about K per pair); positive = more present in response A as stored.
CREATE TABLE feature_activations (
    run_id      VARCHAR NOT NULL,
    pair_id     VARCHAR NOT NULL,
    latent      INTEGER NOT NULL,
    activation  DOUBLE NOT NULL
);

CREATE TABLE feature_weights (
    run_id       VARCHAR NOT NULL,
    kind         VARCHAR NOT NULL,   -- source, annotator, cluster
    grp          VARCHAR NOT NULL,
    latent       INTEGER NOT NULL,
    weight       DOUBLE,
    weight_low   DOUBLE,
    weight_high  DOUBLE,
    n            INTEGER
);
