-- Curator schema, version 1. Judgements are append-only: the store exposes no UPDATE or DELETE on them.
CREATE TABLE datasets (
    name        VARCHAR PRIMARY KEY,
    source      VARCHAR NOT NULL,
    shape       VARCHAR NOT NULL,
    version     INTEGER NOT NULL DEFAULT 0,   -- bumped by every import that adds pairs
    created_at  TIMESTAMP NOT NULL DEFAULT now()
);

CREATE TABLE pairs (
    pair_id          VARCHAR PRIMARY KEY,      -- content hash of prompt + both responses
    dataset          VARCHAR NOT NULL,
    split            VARCHAR NOT NULL,
    row_index        BIGINT NOT NULL,          -- position in the source, for stable ordering
    prompt           VARCHAR NOT NULL,         -- plain text (a conversation as "role: content" lines)
    prompt_messages  JSON,                     -- the conversation, when the prompt is one
    response_a       VARCHAR NOT NULL,
    response_b       VARCHAR NOT NULL,
    label            VARCHAR CHECK (label IN ('a', 'b')),   -- the source's preference, if any
    metadata         JSON,
    len_prompt       INTEGER NOT NULL,
    len_a            INTEGER NOT NULL,
    len_b            INTEGER NOT NULL,
    created_at       TIMESTAMP NOT NULL DEFAULT now()
);

CREATE SEQUENCE judgement_seq;
CREATE TABLE judgements (
    judgement_id  BIGINT NOT NULL DEFAULT nextval('judgement_seq'),
    pair_id       VARCHAR NOT NULL,
    kind          VARCHAR NOT NULL CHECK (kind IN ('human', 'ai')),
    annotator     VARCHAR NOT NULL,
    choice        VARCHAR CHECK (choice IN ('a', 'b', 'tie', 'both-bad')),  -- NULL: no usable verdict
    strength      DOUBLE,
    confidence    DOUBLE,
    rationale     VARCHAR,
    source        VARCHAR NOT NULL,
    details       JSON,
    created_at    TIMESTAMP NOT NULL DEFAULT now()
);

CREATE TABLE signal_runs (
    run_id           VARCHAR PRIMARY KEY,
    dataset          VARCHAR NOT NULL,
    dataset_version  INTEGER NOT NULL,
    cache_key        VARCHAR NOT NULL,
    models           JSON,
    params           JSON,
    n_pairs          INTEGER,
    created_at       TIMESTAMP NOT NULL DEFAULT now()
);

CREATE TABLE signals (
    run_id               VARCHAR NOT NULL,
    pair_id              VARCHAR NOT NULL,
    margin               DOUBLE,
    margin_std           DOUBLE,
    vote_frac            DOUBLE,
    p_correct            DOUBLE,
    entropy              DOUBLE,
    bald                 DOUBLE,
    var_margin           DOUBLE,
    var_sigma            DOUBLE,
    issue_score          DOUBLE,
    dpo_difficulty       DOUBLE,
    cluster              INTEGER,
    map_x                DOUBLE,
    map_y                DOUBLE,
    flag_flipped         BOOLEAN,
    flag_ambiguous       BOOLEAN,
    flag_identical       BOOLEAN,
    flag_near_duplicate  BOOLEAN,
    model_margins        JSON,     -- {model name: margin} for every model of the run
    PRIMARY KEY (run_id, pair_id)
);

CREATE TABLE clusters (
    run_id   VARCHAR NOT NULL,
    cluster  INTEGER NOT NULL,
    name     VARCHAR NOT NULL,
    size     INTEGER NOT NULL,
    terms    JSON,
    PRIMARY KEY (run_id, cluster)
);

CREATE TABLE jobs (
    job_id       VARCHAR PRIMARY KEY,
    kind         VARCHAR NOT NULL,
    dataset      VARCHAR,
    params       JSON,
    cache_key    VARCHAR,
    status       VARCHAR NOT NULL CHECK (status IN ('queued', 'running', 'done', 'failed', 'cancelled')),
    progress     DOUBLE NOT NULL DEFAULT 0,
    message      VARCHAR,
    pid          INTEGER,
    work_dir     VARCHAR,
    result       JSON,
    error        VARCHAR,
    created_at   TIMESTAMP NOT NULL DEFAULT now(),
    started_at   TIMESTAMP,
    finished_at  TIMESTAMP
);

CREATE TABLE exports (
    export_id   VARCHAR PRIMARY KEY,
    name        VARCHAR NOT NULL,
    dataset     VARCHAR,
    recipe      JSON,
    n_rows      INTEGER NOT NULL,
    path        VARCHAR NOT NULL,
    card        JSON,
    created_at  TIMESTAMP NOT NULL DEFAULT now()
);
