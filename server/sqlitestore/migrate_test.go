package sqlitestore

import (
	"database/sql"
	"path/filepath"
	"testing"
)

// databaseAt makes a server database at schema version, as a build of
// that version left it.
func databaseAt(t *testing.T, version int) (string, *sql.DB) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "server.db")
	db, err := sql.Open("sqlite", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(`CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, applied_at TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP)`); err != nil {
		t.Fatal(err)
	}
	for v, m := range migrations[:version] {
		if _, err := db.Exec(m); err != nil {
			t.Fatalf("migration %d: %v", v+1, err)
		}
		if _, err := db.Exec(`INSERT INTO schema_migrations(version) VALUES (?)`, v+1); err != nil {
			t.Fatal(err)
		}
	}
	return path, db
}

// A database from before device ids were bound keeps working: each device
// id is bound to the user of its oldest session, so that a user who
// signed in with someone else's id before the upgrade does not take it.
func TestUpgradeBindsEachDeviceToItsFirstUser(t *testing.T) {
	path, db := databaseAt(t, 2)
	for _, u := range []string{"alex", "sam"} {
		if _, err := db.Exec(`INSERT INTO users(id, name, role, pw_hash, created_at) VALUES (?, ?, 'technician', x'00', 0)`, u+"-id", u); err != nil {
			t.Fatal(err)
		}
	}
	for _, s := range []struct {
		hash, user, device string
		at                 int64
	}{
		{"01", "sam-id", "alex-phone", 300}, // sam, later, with alex's id
		{"02", "alex-id", "alex-phone", 100},
		{"03", "alex-id", "alex-phone", 200},
		{"04", "sam-id", "sam-phone", 150},
	} {
		if _, err := db.Exec(`INSERT INTO sessions(hash, user_id, device_id, created_at, expires_at) VALUES (?, ?, ?, ?, ?)`,
			[]byte(s.hash), s.user, s.device, s.at, s.at+1000); err != nil {
			t.Fatal(err)
		}
	}
	db.Close()

	st, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	q := query{ctx: t.Context(), stmts: &st.rs}
	tx, err := st.r.Begin()
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	q.tx = tx
	for device, want := range map[string]string{"alex-phone": "alex-id", "sam-phone": "sam-id", "unknown": ""} {
		got, err := q.DeviceUser(device)
		if err != nil {
			t.Fatal(err)
		}
		if got != want {
			t.Errorf("device %s is bound to %q, want %q", device, got, want)
		}
	}
}

// A database from before reviews kept their match finds the match of every
// suspected duplicate it already holds, so that people put on the matched
// job later are sent those reviews again.
func TestUpgradeFindsTheMatchOfEachDuplicateReview(t *testing.T) {
	path, db := databaseAt(t, 3)
	for _, rv := range []struct{ id, doc string }{
		{"dup", `{"id":"dup","record_id":"job-b","kind":"duplicate","match_id":"job-a"}`},
		{"edit", `{"id":"edit","record_id":"job-a","kind":"conflict"}`},
	} {
		if _, err := db.Exec(`INSERT INTO reviews(id, record_id, record_type, scope, grp, status, seq, doc) VALUES (?, ?, 'job', ?, 'g', 'open', 1, ?)`,
			rv.id, "job-b", "job-b", []byte(rv.doc)); err != nil {
			t.Fatal(err)
		}
	}
	db.Close()

	st, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	for id, want := range map[string]sql.NullString{"dup": {String: "job-a", Valid: true}, "edit": {}} {
		var got sql.NullString
		if err := st.r.QueryRow(`SELECT match_id FROM reviews WHERE id = ?`, id).Scan(&got); err != nil {
			t.Fatal(err)
		}
		if got != want {
			t.Errorf("review %s has match %v after the upgrade, want %v", id, got, want)
		}
	}
}
