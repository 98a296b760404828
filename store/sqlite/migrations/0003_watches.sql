-- meetingbot store schema, version 3: join alerts. A watch belongs to a
-- binding (it goes when the meeting is unbound) and is held by one process
-- at a time under a lease.
CREATE TABLE watches (
	team          TEXT    NOT NULL,
	channel       TEXT    NOT NULL,
	conference_id TEXT    NOT NULL,
	started_by    TEXT    NOT NULL,
	started_at    INTEGER NOT NULL,
	holder        TEXT    NOT NULL DEFAULT '',
	lease_until   INTEGER NOT NULL DEFAULT 0,
	PRIMARY KEY (team, channel, conference_id),
	FOREIGN KEY (team, channel, conference_id) REFERENCES meetings (team, channel, conference_id) ON DELETE CASCADE
) STRICT;
