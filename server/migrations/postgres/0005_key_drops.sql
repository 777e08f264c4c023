-- Key drops; the same step as SQLite's. After a rotation that one of a person's devices
-- must not follow (a lost phone, revoked), the new space key is sealed to each remaining
-- member device's own exchange key and left here, one drop per space, epoch and receiving
-- device, handed only to that device. The first drop kept for a device and epoch stays (a
-- retry changes nothing). A device's drops go when it is revoked or leaves the space. Like
-- the blob log, rows are keyed by space without a foreign key; spaces are never deleted.
CREATE TABLE key_drops (
    space       UUID NOT NULL,
    epoch       BIGINT NOT NULL,
    device      UUID NOT NULL,
    sender      UUID NOT NULL,
    sealed      BYTEA NOT NULL CHECK (octet_length(sealed) BETWEEN 1 AND 128),
    created_at  BIGINT NOT NULL,
    PRIMARY KEY (space, epoch, device)
);
-- A device's drops: what it fetches (by space, oldest epoch first) and what its
-- revocation deletes.
CREATE INDEX key_drops_device ON key_drops(device, space, epoch);
