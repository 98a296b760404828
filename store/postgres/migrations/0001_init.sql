-- meetingbot store schema for PostgreSQL, version 1: the same data as the
-- SQLite schema at its version 2, in PostgreSQL's dialect.
--
-- Times are unix milliseconds UTC in bigint columns, as in SQLite, so both
-- backends round times the same way and the copy between them is exact.
-- Secrets (password_ct, token_ct, payload_ct, the key check) are AES-256-GCM
-- ciphertexts made by package store; this database never sees plaintext.

CREATE TABLE meta (
	name  text  PRIMARY KEY,
	value bytea NOT NULL
);

-- A channel's meetings in the order they were bound: a sequence, not
-- MAX(bind_seq)+1, so concurrent binds never compute the same value.
CREATE SEQUENCE bind_seq AS bigint;

CREATE TABLE meetings (
	team             text    NOT NULL,
	channel          text    NOT NULL,
	conference_id    text    NOT NULL,
	password_ct      bytea   NOT NULL,
	bound_by         text    NOT NULL,
	bound_at         bigint  NOT NULL,
	bind_seq         bigint  NOT NULL DEFAULT nextval('bind_seq'),
	is_default       boolean NOT NULL DEFAULT false,
	verified         boolean NOT NULL DEFAULT true,
	token_ct         bytea,
	token_expires_at bigint,
	PRIMARY KEY (team, channel, conference_id),
	CHECK ((token_ct IS NULL) = (token_expires_at IS NULL))
);

-- At most one default meeting per channel.
CREATE UNIQUE INDEX meetings_one_default ON meetings (team, channel) WHERE is_default;

CREATE TABLE controllers (
	team       text   NOT NULL,
	channel    text   NOT NULL,
	user_id    text   NOT NULL,
	granted_by text   NOT NULL,
	granted_at bigint NOT NULL,
	seq        bigint GENERATED ALWAYS AS IDENTITY, -- grant order among equal times
	PRIMARY KEY (team, channel, user_id)
);

CREATE TABLE audit (
	id            bigint  GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	at            bigint  NOT NULL,
	team          text    NOT NULL,
	channel       text    NOT NULL,
	user_id       text    NOT NULL,
	action        text    NOT NULL,
	conference_id text    NOT NULL,
	outcome       text    NOT NULL,
	error_code    text    NOT NULL,
	request_id    text    NOT NULL,
	detail        text    NOT NULL,
	count         integer NOT NULL DEFAULT 1,
	last_at       bigint  NOT NULL
);

CREATE INDEX audit_by_channel ON audit (team, channel, at DESC, id DESC);
CREATE INDEX audit_refusals ON audit (team, channel, user_id, action, conference_id, id) WHERE outcome = 'refused';

CREATE TABLE meeting_state (
	conference_id    text   PRIMARY KEY,
	lock_state       text   NOT NULL DEFAULT 'unknown' CHECK (lock_state IN ('unknown', 'locked', 'unlocked')),
	lock_by          text   NOT NULL DEFAULT '',
	lock_at          bigint,
	lock_source      text   NOT NULL DEFAULT '',
	restriction      text   NOT NULL DEFAULT 'unknown' CHECK (restriction IN ('unknown', 'everyone', 'company', 'invited')),
	restriction_by   text   NOT NULL DEFAULT '',
	restriction_at   bigint,
	scheduled_end    bigint,
	extended_minutes bigint NOT NULL DEFAULT 0,
	extended_by      text   NOT NULL DEFAULT '',
	extended_at      bigint,
	fence            bigint NOT NULL DEFAULT 0
);

CREATE TABLE envelopes (
	id          text    PRIMARY KEY,
	claimed_at  bigint  NOT NULL,
	holder      text    NOT NULL,
	lease_until bigint  NOT NULL,
	payload_ct  bytea,
	done        boolean NOT NULL DEFAULT false,
	takeovers   integer NOT NULL DEFAULT 0
);

CREATE INDEX envelopes_by_claimed_at ON envelopes (claimed_at);
CREATE INDEX envelopes_open ON envelopes (lease_until) WHERE NOT done;

-- LockMeeting: one row per conference while some replica holds it. until_ms
-- is on the database server's clock, so replicas' clocks need not agree.
-- Every acquisition takes a new value of meeting_fence.
CREATE SEQUENCE meeting_fence AS bigint;

CREATE TABLE meeting_leases (
	conference_id text   PRIMARY KEY,
	holder        text   NOT NULL,
	until_ms      bigint NOT NULL,
	fence         bigint NOT NULL
);

-- Join alerts: a watch belongs to a binding and is held by one replica at a
-- time under a lease.
CREATE TABLE watches (
	team          text   NOT NULL,
	channel       text   NOT NULL,
	conference_id text   NOT NULL,
	started_by    text   NOT NULL,
	started_at    bigint NOT NULL,
	holder        text   NOT NULL DEFAULT '',
	lease_until   bigint NOT NULL DEFAULT 0,
	PRIMARY KEY (team, channel, conference_id),
	FOREIGN KEY (team, channel, conference_id) REFERENCES meetings (team, channel, conference_id) ON DELETE CASCADE
);
