package sim

import (
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/url"
	"path/filepath"
	"slices"

	"github.com/jackc/pgx/v5"

	"fieldsync/app"
	"fieldsync/contract"
	"fieldsync/localstore"
	"fieldsync/server"
)

// How the checks decide, after every device has synced:
//
// Lost. Each operation in the ledger (every edit a facade call saved) is
// looked up in the server's stored results. Applied: its effect must be
// there (a created record or appended item exists, on its job or the job
// it was merged into, a photo's content arrived; an edit's change-log rows
// carry its values; a resolution resolved its item). Held: the review
// item named in the result must hold a device entry with the operation's
// id and values, and while that item is open the device must still show
// the edit as held. Refused, or never stored because the device itself
// turned it down: the device must keep it as not sent, with its text in
// Drafts, unless the user kept that text as a note (then the note is an
// operation of the ledger, checked the same way). Anything else is lost.
//
// Duplicated. A stored result whose operation is in no ledger (an
// operation the device made up, such as one re-made on a retry); two
// change-log rows of one operation for one field (applied twice); a record
// on the server that no create or append of the ledger made (a second
// record for one user action); one operation in two review entries; two
// notes with one text, two part lines with one SKU or two photos with one
// checksum (the simulation never repeats them); a second tap on save that
// saved anything.
//
// Collisions. Each record's change log is replayed from its creation,
// keeping every group's version and who wrote it since which version, as
// the engine does. An applied update, status move or reassign of a
// review-policy group, or a void, whose base version is older than the
// group's version when it was applied, and not built on its own device's
// unbroken run of changes, is a collision that was applied instead of
// becoming a review item. The replayed versions must end as the server's.
//
// Last write wins, and the log. Each field of each record must hold the
// value of the last change-log row that wrote it; for last-write-wins
// groups that row's operation must be in the ledger with that value, and
// no edit of such a group may have been held as a conflict.
//
// Append. Items follow from the checks above: every applied append exists
// on its job, and nothing exists that no append made, so each job holds
// the union of everyone's items.
//
// Photos. Every photo whose record says its content is whole downloads
// from the server as exactly the bytes its size and sha256 promise;
// anything else is lost (checkphotos.go).
//
// Converged. Each device holds exactly the records and review items the
// server shows its user, each the same as the server's, with nothing
// queued and no photo waiting to upload.

type serverState struct {
	records map[string]*contract.Record
	ids     []string // records in sequence order
	reviews map[string]*contract.Review
	changes map[string][]contract.Change // by record
	results map[string]*server.StoredResult
	stored  []string            // every op id with a stored result, in the order stored
	receipt map[string]int      // op id → its place in stored
	writes  map[string][]*entry // record → the saved operations on it the server applied
	entries map[string][]string // op id → review items holding it
	merged  map[string]string   // job → the job it was merged into
}

func (s *sim) loadServer() (*serverState, error) {
	st := &serverState{records: map[string]*contract.Record{}, reviews: map[string]*contract.Review{},
		changes: map[string][]contract.Change{}, results: map[string]*server.StoredResult{},
		receipt: map[string]int{}, writes: map[string][]*entry{},
		entries: map[string][]string{}, merged: map[string]string{}}
	all := server.Scope{Types: s.rules.RecordTypes()}
	opIDs := make([]string, 0, len(s.ledger))
	for _, e := range s.ledger {
		opIDs = append(opIDs, e.op.ID)
	}
	err := s.store.Read(s.ctx, func(q server.Query) error {
		page, err := q.Pull(all, server.Position{}, 1<<30, "")
		recs := page.Records
		if err != nil {
			return err
		}
		for i := range recs {
			st.records[recs[i].ID] = &recs[i]
			st.ids = append(st.ids, recs[i].ID)
			cs, err := q.Changes(recs[i].ID)
			if err != nil {
				return err
			}
			st.changes[recs[i].ID] = cs
		}
		rvs, err := q.Reviews(all, false)
		if err != nil {
			return err
		}
		for i := range rvs {
			rv := &rvs[i]
			st.reviews[rv.ID] = rv
			for _, de := range rv.Device {
				st.entries[de.OpID] = append(st.entries[de.OpID], rv.ID)
			}
			if rv.Kind == contract.KindDuplicate && rv.Resolution != nil && rv.Resolution.Choice == contract.Merge {
				st.merged[rv.RecordID] = rv.MatchID
			}
		}
		for part := range slices.Chunk(opIDs, 400) {
			rs, err := q.Results(part)
			if err != nil {
				return err
			}
			for i := range rs {
				st.results[rs[i].OpID] = &rs[i]
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	// Every stored result, straight from the server's database, in the
	// order the server applied them.
	if s.db != "" {
		if err := s.storedPostgres(st); err != nil {
			return nil, err
		}
	} else if err := s.storedSQLite(st); err != nil {
		return nil, err
	}
	for _, e := range s.ledger {
		if r := st.results[e.op.ID]; r != nil && r.Result.Outcome == contract.Applied {
			st.writes[e.op.RecordID] = append(st.writes[e.op.RecordID], e)
		}
	}
	return st, nil
}

// storedSQLite reads every stored result's op id from the SQLite file, in
// the order stored: the one writer applies operations in that order.
func (s *sim) storedSQLite(st *serverState) error {
	q := url.Values{}
	q.Add("mode", "ro")
	q.Add("_pragma", "busy_timeout(10000)")
	db, err := sql.Open("sqlite", "file:"+filepath.Join(s.dir, "server.db")+"?"+q.Encode())
	if err != nil {
		return err
	}
	defer db.Close()
	rows, err := db.QueryContext(s.ctx, `SELECT op_id FROM ops ORDER BY rowid`)
	if err != nil {
		return fmt.Errorf("stored results: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var b []byte
		if err := rows.Scan(&b); err != nil {
			return err
		}
		st.receipt[idString(b)] = len(st.stored)
		st.stored = append(st.stored, idString(b))
	}
	return rows.Err()
}

// storedPostgres reads every stored result's op id from PostgreSQL. Its
// writers run at once, so results carry no order of their own; the change
// log does, record by record (a record's writers take turns holding it),
// and that is the order the checks compare: an operation's place is its
// first change-log row, and one that changed nothing comes before all.
func (s *sim) storedPostgres(st *serverState) error {
	conn, err := pgx.Connect(s.ctx, s.db)
	if err != nil {
		return err
	}
	defer conn.Close(s.ctx)
	rows, err := conn.Query(s.ctx, `SELECT r.op_id::text, COALESCE(MIN(c.id), 0) FROM results r
		LEFT JOIN changes c ON c.op_id = r.op_id::text WHERE r.result IS NOT NULL GROUP BY r.op_id ORDER BY 2, 1`)
	if err != nil {
		return fmt.Errorf("stored results: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var (
			id    string
			first int64
		)
		if err := rows.Scan(&id, &first); err != nil {
			return err
		}
		st.receipt[id] = int(first)
		st.stored = append(st.stored, id)
	}
	return rows.Err()
}

// idString reads an op id as the server's store keeps it.
func idString(b []byte) string {
	if len(b) != 16 {
		return string(b)
	}
	h := hex.EncodeToString(b)
	return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

type deviceState struct {
	outbox map[string]localstore.Pending
	drafts map[string]app.Draft
	photos map[string]localstore.Photo
}

func (s *sim) loadDevice(d *device) (*deviceState, error) {
	ds := &deviceState{outbox: map[string]localstore.Pending{}, drafts: map[string]app.Draft{}, photos: map[string]localstore.Photo{}}
	out, err := d.store.Outbox()
	if err != nil {
		return nil, err
	}
	for _, p := range out {
		ds.outbox[p.Op.ID] = p
	}
	drafts, err := d.app.Drafts("")
	if err != nil {
		return nil, err
	}
	for _, dr := range drafts {
		ds.drafts[dr.OpID] = dr
	}
	photos, err := d.store.Photos("")
	if err != nil {
		return nil, err
	}
	for _, p := range photos {
		ds.photos[p.ID] = p
	}
	return ds, nil
}

func (s *sim) check() error {
	srv, err := s.loadServer()
	if err != nil {
		return err
	}
	devs := map[*device]*deviceState{}
	for _, d := range s.devices {
		if devs[d], err = s.loadDevice(d); err != nil {
			return err
		}
	}
	s.rep.Saved = len(s.ledger)
	s.rep.Digest = digest(srv)
	s.rep.Reviews = len(srv.reviews)
	byKind := map[string]int{}
	for _, rv := range srv.reviews {
		byKind[rv.Kind]++
	}
	s.logf("server: %d records, %d review items %v, %d stored results; ledger: %d operations", len(srv.records), len(srv.reviews), byKind, len(srv.stored), len(s.ledger))

	s.checkLedger(srv, devs)
	s.checkDuplicates(srv)
	s.checkLog(srv)
	if err := s.checkConverged(srv, devs); err != nil {
		return err
	}
	if err := s.checkPhotos(srv); err != nil {
		return err
	}
	s.logf("collisions: %d applied edits of review groups and voids checked against the replayed log (%d stale but on their own device's run)", s.checked, s.ownRuns)
	s.logf("outcomes: %d applied, %d held, %d not sent, %d kept as notes; %d refused on the device before saving",
		s.rep.Applied, s.rep.Held, s.rep.NotSent, s.rep.KeptAsNote, s.rep.refusedLocally)
	return nil
}

// digest hashes the server's final state: records in sequence order with
// their change logs, and review items.
func digest(srv *serverState) string {
	h := sha256.New()
	enc := json.NewEncoder(h)
	for _, id := range srv.ids {
		enc.Encode(srv.records[id])
		enc.Encode(srv.changes[id])
	}
	for _, id := range slices.Sorted(mapsKeys(srv.reviews)) {
		enc.Encode(srv.reviews[id])
	}
	return hex.EncodeToString(h.Sum(nil))[:16]
}
