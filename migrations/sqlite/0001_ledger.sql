-- The once-only ledger (rms-preflight, src/ledger/): one row per (shop, order, action).
-- Applied once, in a write transaction, by SqliteLedger::open; its version is recorded in
-- rms_preflight_schema. Never edit an applied migration: add the next one.
--
-- state: sending   -> claimed; the call is on its way to RMS (or its process died)
--        confirmed -> RMS took it
--        failed    -> RMS did not take it (`error`: the rules' error-table id); may be
--                     claimed again
--        unknown   -> the outcome was lost (`error`: its cause, when known); the order must
--                     be read back before anything is resent
CREATE TABLE rms_preflight_ledger (
    shop          TEXT    NOT NULL,
    order_number  TEXT    NOT NULL,
    action        TEXT    NOT NULL,
    state         TEXT    NOT NULL
                  CHECK (state IN ('sending', 'confirmed', 'failed', 'unknown')),
    error         TEXT    CHECK (state <> 'failed' OR error IS NOT NULL),
    attempts      INTEGER NOT NULL CHECK (attempts >= 1),
    token         INTEGER NOT NULL,
    claimed_at_ms INTEGER NOT NULL,
    updated_at_ms INTEGER NOT NULL,
    PRIMARY KEY (shop, order_number, action)
) WITHOUT ROWID;

CREATE INDEX rms_preflight_ledger_by_state ON rms_preflight_ledger (state, updated_at_ms);
