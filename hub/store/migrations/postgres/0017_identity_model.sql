-- The identity model the store's fuzzy links were scored with (a
-- fingerprint of the fuzzy configuration and the person model): when the
-- hub starts with another, every link is scored again and every customer
-- re-clustered (Store.Rescore), so golden customers are what the records
-- and the model give, whatever order the records and the model came in.
CREATE TABLE identity_model (
    id          INTEGER PRIMARY KEY CHECK (id = 1),
    fingerprint TEXT NOT NULL,
    source      TEXT NOT NULL,
    rescored_at BIGINT NOT NULL
);
