-- Context bundles: named sets of code locations and notes. Every save is a new row in
-- `context_versions`; `context_bundles` names the bundle and points at its newest version.
-- Deleting a bundle removes its whole history (ON DELETE CASCADE).
CREATE TABLE context_bundles (
    name           TEXT PRIMARY KEY,
    created_at     TEXT NOT NULL,
    updated_at     TEXT NOT NULL,
    latest_version INTEGER NOT NULL
);

CREATE TABLE context_versions (
    name        TEXT NOT NULL REFERENCES context_bundles(name) ON DELETE CASCADE,
    version     INTEGER NOT NULL,
    created_at  TEXT NOT NULL,
    source      TEXT NOT NULL,             -- 'save' | 'import'
    description TEXT NOT NULL,
    tags        TEXT NOT NULL DEFAULT '[]', -- JSON array of strings
    notes       TEXT NOT NULL DEFAULT '',   -- markdown, secrets redacted
    items       TEXT NOT NULL DEFAULT '[]', -- JSON array of saved items (hash, text, symbol path)
    redactions  TEXT NOT NULL DEFAULT '[]', -- JSON array of {kind, count, places}
    PRIMARY KEY (name, version)
) WITHOUT ROWID;
