package pgstore_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"fieldsync/contract"
	"fieldsync/internal/pgtest"
	"fieldsync/server"
	"fieldsync/server/pgstore"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
)

// everyone sees every job.
var everyone = server.Scope{Types: []string{"job"}}

// putJob writes a job with a new sequence number inside tx.
func putJob(tx server.Tx, id, title string) error {
	seq, err := tx.NextSeq()
	if err != nil {
		return err
	}
	rec := &contract.Record{Type: "job", ID: id, Seq: seq, OwnerName: title}
	return tx.PutRecords([]server.RecordWrite{{Record: rec, Index: server.Index{Scope: id}}})
}

// device pulls with a cursor as the server moves it: past every position
// it was shown, and to the head once a pull has shown everything.
type device struct {
	cursor server.Position
	jobs   map[string]contract.Record
}

func (d *device) pull(t *testing.T, s *pgstore.Store) {
	t.Helper()
	for {
		var more bool
		err := s.Read(context.Background(), func(q server.Query) error {
			page, err := q.Pull(everyone, d.cursor, 2, "")
			if err != nil {
				return err
			}
			for _, r := range page.Records {
				d.jobs[r.ID] = r
			}
			d.cursor, more = page.Last, page.More
			if !more {
				head, err := q.Head()
				if err != nil {
					return err
				}
				if d.cursor.Before(head) {
					d.cursor = head
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if !more {
			return
		}
	}
}

func TestPullWaitsForAWriteThatStartedEarlier(t *testing.T) {
	s := open(t)
	ctx := context.Background()
	slow, fast := uuid.NewString(), uuid.NewString()

	// A write begins and stores a job, and stays open while another write
	// stores a second job and commits.
	written, release := make(chan struct{}), make(chan struct{})
	var wg sync.WaitGroup
	var slowErr error
	wg.Go(func() {
		slowErr = s.Write(ctx, func(tx server.Tx) error {
			if err := putJob(tx, slow, "slow"); err != nil {
				return err
			}
			// A read sends the buffered write, so the row is in the database.
			if _, err := tx.Items(slow); err != nil {
				return err
			}
			close(written)
			<-release
			return nil
		})
	})
	var once sync.Once
	finish := func() { once.Do(func() { close(release) }); wg.Wait() }
	defer finish() // also when the test fails, so that the store can close
	<-written
	if err := s.Write(ctx, func(tx server.Tx) error { return putJob(tx, fast, "fast") }); err != nil {
		t.Fatal(err)
	}

	// A device pulls while the first write is still open: it may not be
	// shown the second job yet, as its cursor would then pass the first.
	d := &device{jobs: map[string]contract.Record{}}
	d.pull(t, s)
	if len(d.jobs) != 0 {
		t.Errorf("a pull during an older open write showed %d jobs, want none until that write ends", len(d.jobs))
	}
	finish()
	if slowErr != nil {
		t.Fatal(slowErr)
	}
	d.pull(t, s)
	for _, id := range []string{slow, fast} {
		if _, ok := d.jobs[id]; !ok {
			t.Errorf("job %s never reached the device pulling from its cursor", id)
		}
	}
}

func TestOpenUnreachableFailsFastWithoutThePassword(t *testing.T) {
	start := time.Now()
	_, err := pgstore.Open(context.Background(), "postgres://fieldsync:hunter2secret@127.0.0.1:1/fieldsync?sslmode=disable")
	took := time.Since(start)
	if err == nil {
		t.Fatal("Open of a database nothing listens for succeeded")
	}
	msg := err.Error()
	if !strings.Contains(msg, "127.0.0.1:1") {
		t.Errorf("the error does not name the address: %q", msg)
	}
	if strings.Contains(msg, "hunter2secret") {
		t.Errorf("the error shows the password: %q", msg)
	}
	if !errors.Is(err, server.ErrUnavailable) {
		t.Errorf("the error does not say the database is unavailable: %q", msg)
	}
	if took > 6*time.Second {
		t.Errorf("Open took %v to give up, want a few seconds at most", took)
	}
}

func TestMigrations(t *testing.T) {
	dsn := pgtest.DSN(t)
	ctx := context.Background()
	id := uuid.NewString()

	t.Run("opening again keeps the data and changes nothing", func(t *testing.T) {
		s, err := pgstore.Open(ctx, dsn)
		if err != nil {
			t.Fatal(err)
		}
		err = s.Write(ctx, func(tx server.Tx) error { return putJob(tx, id, "kept") })
		s.Close()
		if err != nil {
			t.Fatal(err)
		}
		s, err = pgstore.Open(ctx, dsn)
		if err != nil {
			t.Fatalf("opening a database a second time: %v", err)
		}
		defer s.Close()
		err = s.Read(ctx, func(q server.Query) error {
			rec, err := q.Record(id)
			if err == nil && rec == nil {
				err = errors.New("the job written before is gone")
			}
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
	})

	t.Run("a database from a newer build is refused", func(t *testing.T) {
		conn, err := pgx.Connect(ctx, dsn)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close(ctx)
		if _, err := conn.Exec(ctx, `INSERT INTO schema_migrations(version) VALUES (99)`); err != nil {
			t.Fatal(err)
		}
		s, err := pgstore.Open(ctx, dsn)
		if err == nil {
			s.Close()
			t.Fatal("Open of a database at schema version 99 succeeded")
		}
		if !strings.Contains(err.Error(), "version 99") || !strings.Contains(err.Error(), "newer") {
			t.Errorf("the error does not say the database is newer: %q", err)
		}
	})
}

func TestLostConnectionMidWriteKeepsNothing(t *testing.T) {
	dsn := pgtest.DSN(t)
	ctx := context.Background()
	s, err := pgstore.Open(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	admin, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close(ctx)

	id := uuid.NewString()
	err = s.Write(ctx, func(tx server.Tx) error {
		if err := putJob(tx, id, "lost"); err != nil {
			return err
		}
		if _, err := tx.Items(id); err != nil {
			return err
		}
		// The database ends this transaction's connection.
		var n int
		if err := admin.QueryRow(ctx, `SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
			WHERE datname = current_database() AND application_name = 'fieldsyncd' AND state = 'idle in transaction'`).Scan(&n); err != nil {
			return err
		}
		if n != 1 {
			return fmt.Errorf("found %d open write transactions to end, want 1", n)
		}
		_, err := tx.Record(id)
		return err
	})
	if !errors.Is(err, server.ErrUnavailable) {
		t.Fatalf("a write whose connection was ended: %v, want an error wrapping ErrUnavailable", err)
	}
	err = s.Read(ctx, func(q server.Query) error {
		rec, err := q.Record(id)
		if err == nil && rec != nil {
			err = errors.New("the job of the lost write was kept")
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestDeadlockedWritesRunAgainAndLandOnce(t *testing.T) {
	s := open(t)
	ctx := context.Background()
	a, b := uuid.NewString(), uuid.NewString()
	for _, id := range []string{a, b} {
		if err := s.Write(ctx, func(tx server.Tx) error { return putJob(tx, id, "first") }); err != nil {
			t.Fatal(err)
		}
	}
	before := s.Attempts()

	// Two writes lock the jobs in opposite orders, each waiting until the
	// other holds its first: PostgreSQL ends one of them as a deadlock.
	var runs atomic.Int64
	var holding sync.WaitGroup
	holding.Add(2)
	write := func(first, second, who string) error {
		var once sync.Once
		return s.Write(ctx, func(tx server.Tx) error {
			runs.Add(1)
			if _, err := tx.Record(first); err != nil {
				return err
			}
			once.Do(func() { holding.Done(); holding.Wait() })
			if _, err := tx.Record(second); err != nil {
				// The server carries on past a failed operation; the store
				// must run the write again all the same.
				return nil
			}
			return tx.AddChanges([]contract.Change{{RecordType: "job", RecordID: first, OpID: uuid.NewString(),
				UserID: who, DeviceID: who, DeviceTime: time.Now(), ServerTime: time.Now(), Group: "summary", Field: "title"}})
		})
	}
	var wg sync.WaitGroup
	errs := make([]error, 2)
	wg.Go(func() { errs[0] = write(a, b, "ann") })
	wg.Go(func() { errs[1] = write(b, a, "bob") })
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if got := runs.Load(); got < 3 {
		t.Errorf("the writes ran %d times, want a third run after the deadlock", got)
	}
	if got := s.Attempts() - before; got < 3 {
		t.Errorf("the store began %d transactions, want a retry beside the two writes", got)
	}
	err := s.Read(ctx, func(q server.Query) error {
		for _, id := range []string{a, b} {
			log, err := q.Changes(id)
			if err != nil {
				return err
			}
			if len(log) != 1 {
				t.Errorf("job %s has %d change-log rows, want the one write's, once", id, len(log))
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestTouchSendsAJobsRecordsAgainWithLargerNumbers(t *testing.T) {
	s := open(t)
	ctx := context.Background()
	job, item, review := uuid.NewString(), uuid.NewString(), uuid.NewString()
	err := s.Write(ctx, func(tx server.Tx) error {
		var seqs [3]int64
		for i := range seqs {
			var err error
			if seqs[i], err = tx.NextSeq(); err != nil {
				return err
			}
		}
		if err := tx.PutRecords([]server.RecordWrite{
			{Record: &contract.Record{Type: "job", ID: job, Seq: seqs[0]}, Index: server.Index{Scope: job}},
			// The item's state went out in a push answer to the office.
			{Record: &contract.Record{Type: "job", ID: item, ParentID: job, Seq: seqs[1]}, Index: server.Index{Scope: job}, Answered: "office"},
		}); err != nil {
			return err
		}
		return tx.PutReview(&contract.Review{ID: review, RecordType: "job", RecordID: item, Group: "summary", Status: "open", Seq: seqs[2]}, job)
	})
	if err != nil {
		t.Fatal(err)
	}
	var cursor, last server.Position
	seen := map[string]int64{}
	pull := func() (recs []contract.Record, rvs []contract.Review) {
		t.Helper()
		err := s.Read(ctx, func(q server.Query) error {
			page, err := q.Pull(everyone, cursor, 100, "office")
			if err != nil {
				return err
			}
			head, err := q.Head()
			cursor, last = head, page.Last
			recs, rvs = page.Records, page.Reviews
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		return recs, rvs
	}
	recs, rvs := pull()
	if len(recs) != 1 || recs[0].ID != job || len(rvs) != 1 {
		t.Fatalf("the office's first pull: %d records and %d reviews, want the job (its item went out in a push answer) and the review", len(recs), len(rvs))
	}
	seen[job], seen[review] = recs[0].Seq, rvs[0].Seq

	if err := s.Write(ctx, func(tx server.Tx) error { return tx.Touch(job) }); err != nil {
		t.Fatal(err)
	}
	recs, rvs = pull()
	if len(recs) != 1 || recs[0].ID != item {
		t.Fatalf("after the job was touched the office pulled %d records, want its item once more", len(recs))
	}
	if len(rvs) != 1 || rvs[0].ID != review || rvs[0].Seq <= seen[review] {
		t.Errorf("after the job was touched the office pulled reviews %+v, want the review again with a larger number than %d", rvs, seen[review])
	} else if rvs[0].Seq != last.Seq {
		t.Errorf("the touched review says it is at %d, the feed has it at %d", rvs[0].Seq, last.Seq)
	}
	err = s.Read(ctx, func(q server.Query) error {
		rec, err := q.Record(item)
		if err == nil && rec.Seq != recs[0].Seq {
			t.Errorf("the stored item has number %d, the pulled one %d", rec.Seq, recs[0].Seq)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestPullAfterAPositionNeverGivenOutIsRefused(t *testing.T) {
	s := open(t)
	err := s.Read(context.Background(), func(q server.Query) error {
		head, err := q.Head()
		if err != nil {
			return err
		}
		_, err = q.Pull(everyone, server.Position{Epoch: head.Epoch + 1000, Seq: 5}, 10, "")
		if !errors.Is(err, server.ErrUnknownPosition) {
			t.Errorf("a pull after a position past the head: %v, want ErrUnknownPosition", err)
		}
		// Positions of a copied SQLite store, at epoch 0, are fine.
		if _, err := q.Pull(everyone, server.Position{Seq: 1 << 40}, 10, ""); err != nil {
			t.Errorf("a pull after a SQLite cursor: %v", err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestFeedLagIsTheAgeOfTheOldestOpenWrite(t *testing.T) {
	s := open(t)
	ctx := context.Background()
	if lag, err := s.FeedLag(ctx); err != nil || lag != 0 {
		t.Fatalf("feed lag with no write open: %v, %v; want 0", lag, err)
	}
	const held = 300 * time.Millisecond
	written, release := make(chan struct{}), make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		err := s.Write(ctx, func(tx server.Tx) error {
			if err := putJob(tx, uuid.NewString(), "held"); err != nil {
				return err
			}
			if _, err := tx.Items(uuid.NewString()); err != nil {
				return err
			}
			close(written)
			<-release
			return nil
		})
		if err != nil {
			t.Error(err)
		}
	})
	<-written
	time.Sleep(held)
	lag, err := s.FeedLag(ctx)
	close(release)
	wg.Wait()
	if err != nil {
		t.Fatal(err)
	}
	if lag < held || lag > 10*held {
		t.Errorf("feed lag with a write open for %v: %v", held, lag)
	}
	if lag, err := s.FeedLag(ctx); err != nil || lag != 0 {
		t.Errorf("feed lag once the write ended: %v, %v; want 0", lag, err)
	}
}

func TestTwoCreatesOfOneRecordAtOnceKeepTheFirst(t *testing.T) {
	s := open(t)
	ctx := context.Background()
	id := uuid.NewString()
	var looked sync.WaitGroup
	looked.Add(2)
	var found atomic.Int64
	create := func(title string) error {
		var once sync.Once
		return s.Write(ctx, func(tx server.Tx) error {
			rec, err := tx.Record(id)
			if err != nil {
				return err
			}
			if rec != nil {
				found.Add(1)
				return nil // made already: nothing to do
			}
			// Both look before either creates.
			once.Do(func() { looked.Done(); looked.Wait() })
			return putJob(tx, id, title)
		})
	}
	var wg sync.WaitGroup
	errs := make([]error, 2)
	wg.Go(func() { errs[0] = create("ann's") })
	wg.Go(func() { errs[1] = create("bob's") })
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if found.Load() != 1 {
		t.Errorf("%d of the two creates ran again and found the record, want the later one", found.Load())
	}
	err := s.Read(ctx, func(q server.Query) error {
		var n int
		page, err := q.Pull(everyone, server.Position{}, 10, "")
		for _, r := range page.Records {
			if r.ID == id {
				n++
			}
		}
		if n != 1 {
			t.Errorf("the record is in the feed %d times, want once", n)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestAWriteThatOnlyStoresRecordsKeepsThem(t *testing.T) {
	s := open(t)
	ctx := context.Background()
	id := uuid.NewString()
	// No statement reaches the database before the commit: the record
	// waits in memory until then.
	err := s.Write(ctx, func(tx server.Tx) error {
		return tx.PutRecords([]server.RecordWrite{{Record: &contract.Record{Type: "job", ID: id, Seq: 1}}})
	})
	if err != nil {
		t.Fatal(err)
	}
	err = s.Read(ctx, func(q server.Query) error {
		rec, err := q.Record(id)
		if err == nil && rec == nil {
			err = errors.New("the record written is not there")
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestADatabaseRestoredIntoAnotherClusterKeepsItsFeedGoing(t *testing.T) {
	dsn := pgtest.DSN(t)
	ctx := context.Background()
	s, err := pgstore.Open(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Write(ctx, func(tx server.Tx) error { return putJob(tx, uuid.NewString(), "before") }); err != nil {
		t.Fatal(err)
	}
	d := &device{jobs: map[string]contract.Record{}}
	d.pull(t, s)
	s.Close()

	// A dump restored into a cluster whose transaction ids are a billion
	// behind the old one's: what the old cluster gave out lies far ahead
	// of this one's ids.
	const behind = 1_000_000_000
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{`UPDATE records SET epoch = epoch + $1`, `UPDATE feed_epoch SET high_water = high_water + $1`} {
		if _, err := conn.Exec(ctx, q, behind); err != nil {
			t.Fatal(err)
		}
	}
	conn.Close(ctx)
	d.cursor.Epoch += behind

	s, err = pgstore.Open(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	after := uuid.NewString()
	if err := s.Write(ctx, func(tx server.Tx) error { return putJob(tx, after, "after") }); err != nil {
		t.Fatal(err)
	}
	d.pull(t, s)
	if _, ok := d.jobs[after]; !ok {
		t.Errorf("a job written after the restore never reached a device pulling from its cursor of before")
	}
}

// TestTwoPartsAtOneOffsetAtOnceKeepTheFirst: two servers recording a
// photo's chunk at the same offset at once, each having seen the upload
// reach that offset, keep one part: the other is told so, and its chunk
// is refused rather than merged.
func TestTwoPartsAtOneOffsetAtOnceKeepTheFirst(t *testing.T) {
	s := open(t)
	ctx := context.Background()
	photo := uuid.NewString()
	var looked sync.WaitGroup
	looked.Add(2)
	add := func(key string, size int64) (bool, error) {
		var once sync.Once
		var added bool
		err := s.Write(ctx, func(tx server.Tx) error {
			parts, err := tx.Parts(photo)
			if err != nil || len(parts) > 0 {
				added = false
				return err
			}
			// Both see no part before either adds one.
			once.Do(func() { looked.Done(); looked.Wait() })
			added, err = tx.AddPart(server.Part{PhotoID: photo, Offset: 0, Size: size, Key: key, At: time.Now()})
			return err
		})
		return added, err
	}
	var wg sync.WaitGroup
	added := make([]bool, 2)
	errs := make([]error, 2)
	wg.Go(func() { added[0], errs[0] = add("partial/a", 100) })
	wg.Go(func() { added[1], errs[1] = add("partial/b", 200) })
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	if added[0] == added[1] {
		t.Fatalf("two parts at offset 0 at once: added %v; want exactly one", added)
	}
	var parts []server.Part
	if err := s.Read(ctx, func(q server.Query) (err error) { parts, err = q.Parts(photo); return err }); err != nil {
		t.Fatal(err)
	}
	want := map[bool]string{true: "partial/a", false: "partial/b"}[added[0]]
	if len(parts) != 1 || parts[0].Key != want {
		t.Errorf("the photo's parts are %+v; want the one part that was added, %s", parts, want)
	}
}
