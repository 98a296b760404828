-- meetingbot store schema, version 2.
--
-- The lock state belongs to the meeting, not to one channel's binding: a
-- meeting bound in two channels has one state. A binding remembers whether
-- its password was checked. Repeated refusals fold into one audit row.
-- Envelope claims carry a holder and a lease, and the sealed payload another
-- process needs to finish the command if the holder dies.

CREATE TABLE meeting_state (
	conference_id    TEXT    PRIMARY KEY,
	lock_state       TEXT    NOT NULL DEFAULT 'unknown' CHECK (lock_state IN ('unknown', 'locked', 'unlocked')),
	lock_by          TEXT    NOT NULL DEFAULT '',
	lock_at          INTEGER,
	lock_source      TEXT    NOT NULL DEFAULT '',
	restriction      TEXT    NOT NULL DEFAULT 'unknown' CHECK (restriction IN ('unknown', 'everyone', 'company', 'invited')),
	restriction_by   TEXT    NOT NULL DEFAULT '',
	restriction_at   INTEGER,
	scheduled_end    INTEGER,
	extended_minutes INTEGER NOT NULL DEFAULT 0,
	extended_by      TEXT    NOT NULL DEFAULT '',
	extended_at      INTEGER,
	fence            INTEGER NOT NULL DEFAULT 0
) STRICT;

-- Carry over the newest state the bot set in any channel.
INSERT INTO meeting_state (conference_id, lock_state, lock_by, lock_at, lock_source)
SELECT conference_id, lock_state, lock_set_by, lock_set_at, 'bot'
FROM (
	SELECT conference_id, lock_state, lock_set_by, lock_set_at,
		ROW_NUMBER() OVER (PARTITION BY conference_id ORDER BY lock_set_at DESC) AS n
	FROM meetings WHERE lock_state <> 'unknown' AND lock_set_at IS NOT NULL
) WHERE n = 1;

ALTER TABLE meetings DROP COLUMN lock_state;
ALTER TABLE meetings DROP COLUMN lock_set_by;
ALTER TABLE meetings DROP COLUMN lock_set_at;
ALTER TABLE meetings ADD COLUMN verified INTEGER NOT NULL DEFAULT 1 CHECK (verified IN (0, 1));

ALTER TABLE audit ADD COLUMN count INTEGER NOT NULL DEFAULT 1;
ALTER TABLE audit ADD COLUMN last_at INTEGER;
CREATE INDEX audit_refusals ON audit (team, channel, user_id, action, conference_id, id) WHERE outcome = 'refused';

-- Claims made before this version were acted on already: they are done.
ALTER TABLE envelopes ADD COLUMN holder      TEXT    NOT NULL DEFAULT '';
ALTER TABLE envelopes ADD COLUMN lease_until INTEGER NOT NULL DEFAULT 0;
ALTER TABLE envelopes ADD COLUMN payload_ct  BLOB;
ALTER TABLE envelopes ADD COLUMN done        INTEGER NOT NULL DEFAULT 1 CHECK (done IN (0, 1));
ALTER TABLE envelopes ADD COLUMN takeovers   INTEGER NOT NULL DEFAULT 0;
CREATE INDEX envelopes_open ON envelopes (lease_until) WHERE done = 0;
