-- Key drops: after a rotation that one of a person's devices must not follow (a lost phone,
-- revoked), the new space key is sealed to each remaining member device's own exchange key
-- and left here, one drop per space, epoch and receiving device, handed only to that
-- device. The first drop kept for a device and epoch stays (a retry changes nothing). A
-- device's drops go when it is revoked or leaves the space. Like the blob log, rows are
-- keyed by space without a foreign key; spaces are never deleted.
CREATE TABLE key_drops (
    space       BLOB NOT NULL,
    epoch       INTEGER NOT NULL,
    device      BLOB NOT NULL,
    sender      BLOB NOT NULL,
    sealed      BLOB NOT NULL CHECK (length(sealed) BETWEEN 1 AND 128),
    created_at  INTEGER NOT NULL,
    PRIMARY KEY (space, epoch, device)
) WITHOUT ROWID;
-- A device's drops: what it fetches (by space, oldest epoch first) and what its
-- revocation deletes.
CREATE INDEX key_drops_device ON key_drops(device, space, epoch);
