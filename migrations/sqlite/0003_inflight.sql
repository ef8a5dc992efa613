-- Claims in flight, one row per claim (and per shop, action and batch part of it), instead
-- of an index entry per order: a claim of a hundred orders wrote a hundred entries into
-- `rms_preflight_ledger_by_state` (and a mark moved them), which was a third of its cost.
--
-- order_numbers: the JSON array of the order numbers the claim won. A row of it is still
-- in flight while the ledger holds it `sending` under `token`. The mark that leaves none
-- of them `sending` deletes the claim's row; a resend touches `updated_at_ms`. Every
-- `sending` row of the ledger belongs to a row here, which is how a start-up or a
-- reconciler finds the claims a dead sender left behind.
CREATE TABLE rms_preflight_inflight (
    token           INTEGER NOT NULL,
    shop            TEXT    NOT NULL,
    action          TEXT    NOT NULL,
    part            INTEGER NOT NULL,
    order_numbers   TEXT    NOT NULL,
    updated_at_ms   INTEGER NOT NULL,
    call_timeout_ms INTEGER NOT NULL,
    PRIMARY KEY (token, shop, action, part)
) WITHOUT ROWID;

INSERT INTO rms_preflight_inflight
    (token, shop, action, part, order_numbers, updated_at_ms, call_timeout_ms)
SELECT token, shop, action, 0, json_group_array(order_number), max(updated_at_ms),
       max(call_timeout_ms)
FROM rms_preflight_ledger WHERE state = 'sending' GROUP BY token, shop, action;

DROP INDEX rms_preflight_ledger_by_state;

-- The rows a reconciler reads back: few, and only they are indexed.
CREATE INDEX rms_preflight_ledger_unknown ON rms_preflight_ledger (shop, order_number, action)
    WHERE state = 'unknown';
