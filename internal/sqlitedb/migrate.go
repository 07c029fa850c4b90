package sqlitedb

import (
	"database/sql"
	"fmt"
)

// NewerError refuses a database whose schema is newer than the migrations
// this build knows: a newer build made it, and this one could misread it.
type NewerError struct {
	Version int // the database's schema version
	Known   int // the newest version this build knows
}

func (e *NewerError) Error() string {
	return fmt.Sprintf("the database is at schema version %d but this build knows only %d", e.Version, e.Known)
}

// Migrate brings db's schema up to date. Migration n is migrations[n-1]:
// SQL statements, run once, in order. Each runs in a transaction of its own
// together with the row in schema_migrations that records it, so a
// migration that fails leaves nothing of itself behind and runs again next
// time. A database at a version past len(migrations) is left as it is and
// refused with a *NewerError.
//
// A migration that has shipped is never edited: a change is a new one.
func Migrate(db *sql.DB, migrations []string) error {
	if _, err := db.Exec(`CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, applied_at TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP)`); err != nil {
		return fmt.Errorf("schema version: %w", err)
	}
	var have int
	if err := db.QueryRow(`SELECT COALESCE(MAX(version), 0) FROM schema_migrations`).Scan(&have); err != nil {
		return fmt.Errorf("schema version: %w", err)
	}
	if have > len(migrations) {
		return &NewerError{Version: have, Known: len(migrations)}
	}
	for v := have + 1; v <= len(migrations); v++ {
		if err := step(db, v, migrations[v-1]); err != nil {
			return fmt.Errorf("migration %d: %w", v, err)
		}
	}
	return nil
}

// step runs migration v and records it, in one transaction.
func step(db *sql.DB, v int, migration string) error {
	tx, err := db.Begin()
	if err != nil {
		return err
	}
	if _, err := tx.Exec(migration); err != nil {
		tx.Rollback()
		return err
	}
	if _, err := tx.Exec(`INSERT INTO schema_migrations(version) VALUES (?)`, v); err != nil {
		tx.Rollback()
		return err
	}
	return tx.Commit()
}
