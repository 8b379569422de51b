-- Curate, export and train: saved selection recipes and the registry of trained models.
-- Exports use the `exports` table of 001. A recipe saved again under the same name replaces its row
-- in `recipes`, and every version stays in `recipe_versions`. Model rows are never updated.
-- (No semicolons in comments: the migration runner splits statements on them.)
CREATE TABLE recipes (
    name        VARCHAR PRIMARY KEY,
    recipe      JSON NOT NULL,
    version     INTEGER NOT NULL DEFAULT 1,
    created_at  TIMESTAMP NOT NULL DEFAULT now(),
    updated_at  TIMESTAMP NOT NULL DEFAULT now()
);

CREATE TABLE recipe_versions (
    name        VARCHAR NOT NULL,
    version     INTEGER NOT NULL,
    recipe      JSON NOT NULL,
    saved_at    TIMESTAMP NOT NULL DEFAULT now(),
    PRIMARY KEY (name, version)
);

CREATE TABLE models (
    model_id    VARCHAR PRIMARY KEY,
    kind        VARCHAR NOT NULL CHECK (kind IN ('embedded', 'reward', 'dpo')),
    path        VARCHAR NOT NULL,
    base_model  VARCHAR,
    export_id   VARCHAR,
    run_dir     VARCHAR,
    config      JSON,
    metrics     JSON,
    created_at  TIMESTAMP NOT NULL DEFAULT now()
);
