-- Sealed prompt answers (issue 13, ADR 11). The relay's share of each person's answer key
-- per round of a space: the first share a person registers for a round is kept, and it is
-- handed out only to that person, to someone who answered the round too, or once revealed.
-- A share alone opens nothing (the other share is sealed in the journal). Like the blob
-- log, rows are keyed by space without a foreign key; spaces are never deleted.
CREATE TABLE answer_shares (
    space        BLOB NOT NULL,
    round        TEXT NOT NULL CHECK (length(round) BETWEEN 1 AND 80),
    person       BLOB NOT NULL,
    share        BLOB NOT NULL CHECK (length(share) = 32),
    answered_at  INTEGER NOT NULL,
    revealed     INTEGER NOT NULL DEFAULT 0 CHECK (revealed IN (0, 1)),
    PRIMARY KEY (space, round, person)
) WITHOUT ROWID;
