-- Person models the hub estimated from its own records (issue 15), one
-- row per version: when, from how many person records, a digest of that
-- record set (the same records in any order give the same digest, so an
-- idle hub whose records did not change estimates nothing), the model as
-- JSON and the fingerprint of the resolver it gives (identity_model holds
-- the fingerprint the links were last scored with).
CREATE TABLE identity_models (
    version     INTEGER PRIMARY KEY,
    created_at  BIGINT NOT NULL,
    records     INTEGER NOT NULL,
    digest      TEXT NOT NULL,
    params      TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    origin      TEXT NOT NULL
);
