package nutsfix

import (
	"fmt"

	"github.com/nutsdb/nutsdb"
)

// Update runs fn in a read-write transaction, committed (and, for a DB opened
// with Sync, fsynced) before it returns. A panic in fn would leave nutsdb's
// lock held forever; it becomes an error and the transaction is rolled back.
// nutsdb keeps the slices given to Put: hand it fresh ones.
func Update(db *nutsdb.DB, fn func(*nutsdb.Tx) error) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("nutsdb update panicked: %v", r)
		}
	}()
	return db.Update(noPanic(fn))
}

// View runs fn in a read-only transaction, with the same guard as Update.
// What Get returns is nutsdb's own memory: copy it before fn returns.
func View(db *nutsdb.DB, fn func(*nutsdb.Tx) error) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("nutsdb view panicked: %v", r)
		}
	}()
	return db.View(noPanic(fn))
}

func noPanic(fn func(*nutsdb.Tx) error) func(*nutsdb.Tx) error {
	return func(tx *nutsdb.Tx) (err error) {
		defer func() {
			if r := recover(); r != nil {
				err = fmt.Errorf("panic in transaction: %v", r)
			}
		}()
		return fn(tx)
	}
}
