// Package nutsfix opens, uses and closes nutsdb databases around the
// pitfalls of nutsdb v1.1.0 (probed here with SIGKILL and file-damage
// experiments; see DESIGN.md, "nutsdb facts that shape storage"). storage
// keeps the logs' logic and reaches nutsdb's files only through this
// package's Open, Update, View and Close. The pitfalls it guards against, one
// line each:
//
//   - A zero Options has SyncEnable off: Open starts from nutsdb.DefaultOptions.
//   - Merge (v1 and v2), hint files and auto-merge lose data or deadlock Close: Open turns them off.
//   - bucket.Meta and the directory are never fsynced: Open creates all buckets at once and syncs both.
//   - A new segment's directory entry is never fsynced, and nutsdb's own fsync is out of a test's sight:
//     SyncCommit fsyncs the segment (and, after a new one, the directory) through SyncPath.
//   - A crash during a write leaves a torn tail on which Open fails with a CRC error: Open cuts it first.
//   - Recovery skips whatever follows damage, silently: Open refuses that damage in a synced DB.
//   - An uncommitted entry group is applied with the next transaction: Open cuts it at the tail, refuses it elsewhere.
//   - Entries of a bucket missing from bucket.Meta are dropped silently: Open refuses them.
//   - Merge and hint files make nutsdb remove or skip data files on its own: Open refuses them.
//   - Garbage with huge length fields makes Open panic: Open recovers the panic into an error.
//   - A failed Open leaks the directory lock (the next Open gets ErrDirLocked): the next Open removes the stale lock file.
//   - A repair of a directory that is open in this process could cut a write in flight: Open refuses it (ErrLocked).
//   - A panic inside a transaction function leaves the DB locked forever: Update and View recover it into an error.
//   - A write that failed while opening a new segment makes Close panic: Close hands nutsdb an inert active file.
//   - Close leaves a goroutine in doWrites (LeftoverGoroutine): Close ends it, except in race builds.
//
// What it cannot guard, its callers must: write each durable step as ONE Put
// (a crash in a multi-entry transaction can leave entries that recovery merges
// into the next one), hand Put fresh slices and copy what Get returns before
// the transaction ends, never use iterators (an unreleased one hangs the next
// write), and shrink a DB by moving its live part to a new one, not by merge.
// The scan also holds them to what rsml writes: BTree buckets, Persistent
// entries, keys of at most 4 KiB; Open refuses any other entry as foreign.
// Known and left alone: each Open leaves descriptors that only the garbage
// collector closes (bucket.Meta's, and one per data file: recovery stops at
// the zeros after the last entry without closing its reader).
//
// The errors it returns read as storage's ("storage: ..."): storage hands
// them to its callers unchanged and re-exports ErrCorrupt and ErrLocked.
package nutsfix
