-- Annotation queues. Labels themselves live in the append-only `judgements` log. These tables only
-- say who is being served what. A queue item has `annotators_per_pair` slots. An annotator claims
-- one slot (a short transaction that also bumps the annotator's row, so two tabs of one person
-- conflict and retry instead of both claiming), a claim expires after `claim_timeout_s` so
-- abandoned items return, and a submitted label marks the slot done.
CREATE TABLE queues (
    queue_id             VARCHAR PRIMARY KEY,
    name                 VARCHAR NOT NULL,
    annotators_per_pair  INTEGER NOT NULL CHECK (annotators_per_pair >= 1),
    claim_timeout_s      INTEGER NOT NULL CHECK (claim_timeout_s >= 1),
    selection            JSON,                 -- how the items were chosen (filter, lasso, router)
    created_by           VARCHAR,
    created_at           TIMESTAMP NOT NULL DEFAULT now()
);

CREATE TABLE queue_items (
    queue_id  VARCHAR NOT NULL,
    pair_id   VARCHAR NOT NULL,
    position  INTEGER NOT NULL,                -- serving order
    PRIMARY KEY (queue_id, pair_id)
);

CREATE TABLE queue_slots (
    queue_id      VARCHAR NOT NULL,
    pair_id       VARCHAR NOT NULL,
    slot          INTEGER NOT NULL,
    state         VARCHAR NOT NULL DEFAULT 'open' CHECK (state IN ('open', 'claimed', 'done')),
    annotator     VARCHAR,
    claimed_at    TIMESTAMP,
    expires_at    TIMESTAMP,
    judgement_id  BIGINT,                      -- the label that completed the slot
    PRIMARY KEY (queue_id, pair_id, slot)
);

CREATE TABLE queue_annotators (
    queue_id   VARCHAR NOT NULL,
    annotator  VARCHAR NOT NULL,
    actions    BIGINT NOT NULL DEFAULT 0,      -- bumped by every claim/submit/skip/undo (serialises one person)
    last_seen  TIMESTAMP,
    PRIMARY KEY (queue_id, annotator)
);

-- What each annotator did, in order (append-only): the basis of skip and undo.
CREATE SEQUENCE queue_event_seq;
CREATE TABLE queue_events (
    event_id      BIGINT NOT NULL DEFAULT nextval('queue_event_seq'),
    queue_id      VARCHAR NOT NULL,
    pair_id       VARCHAR NOT NULL,
    annotator     VARCHAR NOT NULL,
    action        VARCHAR NOT NULL CHECK (action IN ('submit', 'skip', 'undo')),
    judgement_id  BIGINT,                      -- submit: the label, undo of a submit: the superseding row
    undoes        BIGINT,                      -- undo: the event it reverts
    created_at    TIMESTAMP NOT NULL DEFAULT now()
);
