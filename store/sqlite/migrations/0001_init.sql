-- meetingbot store schema, version 1.
-- Times are unix milliseconds UTC. Secrets (password_ct, token_ct, the key
-- check) are AES-256-GCM ciphertexts; see store/crypto.go.

CREATE TABLE meta (
	name  TEXT PRIMARY KEY,
	value BLOB NOT NULL
) STRICT;

CREATE TABLE meetings (
	team             TEXT    NOT NULL,
	channel          TEXT    NOT NULL,
	conference_id    TEXT    NOT NULL,
	password_ct      BLOB    NOT NULL,
	bound_by         TEXT    NOT NULL,
	bound_at         INTEGER NOT NULL,
	bind_seq         INTEGER NOT NULL,
	is_default       INTEGER NOT NULL DEFAULT 0 CHECK (is_default IN (0, 1)),
	token_ct         BLOB,
	token_expires_at INTEGER,
	lock_state       TEXT    NOT NULL DEFAULT 'unknown' CHECK (lock_state IN ('unknown', 'locked', 'unlocked')),
	lock_set_by      TEXT    NOT NULL DEFAULT '',
	lock_set_at      INTEGER,
	PRIMARY KEY (team, channel, conference_id),
	CHECK ((token_ct IS NULL) = (token_expires_at IS NULL))
) STRICT;

-- At most one default meeting per channel.
CREATE UNIQUE INDEX meetings_one_default ON meetings (team, channel) WHERE is_default = 1;

CREATE TABLE controllers (
	team       TEXT    NOT NULL,
	channel    TEXT    NOT NULL,
	user_id    TEXT    NOT NULL,
	granted_by TEXT    NOT NULL,
	granted_at INTEGER NOT NULL,
	PRIMARY KEY (team, channel, user_id)
) STRICT;

CREATE TABLE audit (
	id            INTEGER PRIMARY KEY AUTOINCREMENT,
	at            INTEGER NOT NULL,
	team          TEXT    NOT NULL,
	channel       TEXT    NOT NULL,
	user_id       TEXT    NOT NULL,
	action        TEXT    NOT NULL,
	conference_id TEXT    NOT NULL,
	outcome       TEXT    NOT NULL,
	error_code    TEXT    NOT NULL,
	request_id    TEXT    NOT NULL,
	detail        TEXT    NOT NULL
) STRICT;

CREATE INDEX audit_by_channel ON audit (team, channel, at DESC, id DESC);

CREATE TABLE envelopes (
	id         TEXT    PRIMARY KEY,
	claimed_at INTEGER NOT NULL
) STRICT, WITHOUT ROWID;

CREATE INDEX envelopes_by_claimed_at ON envelopes (claimed_at);
