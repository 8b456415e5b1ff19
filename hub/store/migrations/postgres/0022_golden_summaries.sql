-- What a search page shows of each active golden customer (the API's
-- summary view), kept beside the golden record and written in the same
-- transaction: a page of 50 by name read 50 golden rows and decoded 50
-- whole records, where a summary row is a few hundred bytes read as plain
-- columns. Only active customers have a row, so a search needs no status
-- check. Empty text, never NULL, for a missing value.
CREATE TABLE golden_summaries (
    id                TEXT PRIMARY KEY,
    kind              TEXT NOT NULL,
    given_name        TEXT NOT NULL,
    family_name       TEXT NOT NULL,
    full_name         TEXT NOT NULL,
    organization_name TEXT NOT NULL,
    email             TEXT NOT NULL,
    phone             TEXT NOT NULL,
    postal_code       TEXT NOT NULL,
    city              TEXT NOT NULL,
    country           TEXT NOT NULL,
    created_at        BIGINT NOT NULL,
    updated_at        BIGINT NOT NULL
);

-- Back-fill from the stored golden records, the same fields summaryOf
-- (hub/store/summary.go) takes: the first e-mail, phone and address.
INSERT INTO golden_summaries (id, kind, given_name, family_name, full_name, organization_name, email, phone, postal_code, city, country, created_at, updated_at)
SELECT id,
    COALESCE(data::jsonb->>'kind', ''),
    COALESCE(data::jsonb->>'given_name', ''),
    COALESCE(data::jsonb->>'family_name', ''),
    COALESCE(data::jsonb->>'full_name', ''),
    COALESCE(data::jsonb->>'organization_name', ''),
    COALESCE(data::jsonb->'emails'->>0, ''),
    COALESCE(data::jsonb->'phones'->>0, ''),
    COALESCE(data::jsonb->'addresses'->0->>'postal_code', ''),
    COALESCE(data::jsonb->'addresses'->0->>'city', ''),
    COALESCE(data::jsonb->'addresses'->0->>'country', ''),
    created_at, updated_at
FROM goldens WHERE status = 'active';
