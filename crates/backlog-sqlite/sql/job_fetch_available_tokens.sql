-- The plain claim, step 2: :bytes random bytes from SQLite's generator (ChaCha20, seeded from the
-- operating system), 16 for each job's lease token. Tokens are random, never a counter: a claim
-- lost in a crash must not see its token handed out again.
SELECT randomblob(:bytes)
