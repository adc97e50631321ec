package nutsfix

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/nutsdb/nutsdb"
)

// A panic inside a transaction function becomes an error and leaves the DB
// usable (nutsdb itself would keep its lock forever).
func TestPanicInTransactionIsAnError(t *testing.T) {
	leakCheck(t)
	db := openT(t, syncedSpec(t.TempDir()))
	// Not deferred: Close would hang on a DB left locked.
	done := make(chan error, 1)
	go func() {
		if err := Update(db.DB, func(*nutsdb.Tx) error { panic("boom") }); err == nil || !strings.Contains(err.Error(), "boom") {
			done <- fmt.Errorf("update that panics: %v", err)
			return
		}
		if err := View(db.DB, func(*nutsdb.Tx) error { panic("bang") }); err == nil || !strings.Contains(err.Error(), "bang") {
			done <- fmt.Errorf("view that panics: %v", err)
			return
		}
		done <- putRec(db.DB, 1)
	}()
	select {
	case err := <-done:
		must(t, err)
	case <-time.After(10 * time.Second):
		t.Fatal("the DB is locked after a panic in a transaction")
	}
	checkRecs(t, db.DB, 1)
	must(t, db.close())
}
