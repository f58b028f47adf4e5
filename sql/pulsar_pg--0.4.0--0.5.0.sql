/* pulsar_pg 0.4.0 -> 0.5.0: short update chains on cursor pages */

\echo Use "ALTER EXTENSION pulsar_pg UPDATE TO '0.5.0'" to load this file. \quit

--------------------------------------------------------------------------
-- Every cumulative ack, and every ack that folds ranges, updates its
-- cursor row.  The key does not change, so the new version goes into the
-- same page (a HOT update) and a lookup by key walks the chain of old
-- versions until the page is pruned.  PostgreSQL prunes a page only when
-- its free space falls below what the fill factor leaves, about a tenth
-- of it by default: a busy cursor then drags a chain of over a hundred
-- versions, walked by every receive and every ack.  Filling pages to a
-- tenth prunes them after a few updates.  The table holds a row per
-- subscription and partition, so the space this costs is small.
--------------------------------------------------------------------------

ALTER TABLE pulsar.cursor SET (fillfactor = 10);
