package localstore

import (
	"bufio"
	"bytes"
	"database/sql"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"fieldsync/internal/sqlitedb"

	_ "modernc.org/sqlite" // create and checkTables open files with the driver itself
)

// ApplicationID marks an SQLite file as a FieldSync device store (PRAGMA
// application_id, offset 68 of the file's header): "FSYN".
const ApplicationID = 0x4653594e

// storeFile is the store's database file in its directory.
const storeFile = "fieldsync.db"

// ErrUnusable is the reason an existing store file is refused: it is empty,
// cut short, not an SQLite database, or another application's database.
// Open never creates a store over such a file, so whatever it holds stays
// for someone to restore.
var ErrUnusable = errors.New("the store file cannot be used")

// UnusableError says which file was refused and why. It wraps ErrUnusable.
type UnusableError struct {
	Path    string // the database file
	Problem string // what is wrong, in a few words: "is empty (0 bytes)"
}

func (e *UnusableError) Error() string {
	return e.Path + " " + e.Problem + "; nothing was changed. Move it aside to start afresh, or restore it from a backup."
}

func (e *UnusableError) Unwrap() error { return ErrUnusable }

// An Option changes how Open sets up the store.
type Option func(*options)

type options struct {
	newDeviceID func() string
}

// WithDeviceIDs makes the store take the ids it gives this device (the
// first one, and a fresh one on a Reset that names none) from newID
// instead of NewDeviceID.
func WithDeviceIDs(newID func() string) Option {
	return func(o *options) { o.newDeviceID = newID }
}

// Open opens the store in dir (the app's storage directory), or creates
// one when dir has none. An existing file that is not a whole FieldSync
// store is refused with an *UnusableError and left as it is: a store that
// lost its content must never come back silently empty.
func Open(dir string, opts ...Option) (*Store, error) {
	o := options{newDeviceID: NewDeviceID}
	for _, opt := range opts {
		opt(&o)
	}
	path := filepath.Join(dir, storeFile)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("open store: %w", err)
	}
	if err := checkFile(path); errors.Is(err, os.ErrNotExist) {
		if err := create(path); err != nil {
			return nil, fmt.Errorf("create store %s: %w", path, err)
		}
	} else if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(filepath.Join(dir, "photos"), 0o700); err != nil {
		return nil, fmt.Errorf("open store: %w", err)
	}
	db, err := sqlitedb.Open(path, connOptions())
	if err != nil {
		return nil, fmt.Errorf("open store: %w", err)
	}
	if err := migrate(db); err != nil {
		db.Close()
		return nil, fmt.Errorf("open store: %w", err)
	}
	// Stores made before the mark have none: stamp them.
	if err := stamp(db); err != nil {
		db.Close()
		return nil, fmt.Errorf("open store: %w", err)
	}
	prep, err := prepare(db)
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("open store: %w", err)
	}
	cp, err := sqlitedb.Open(path, connOptions())
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("open store: %w", err)
	}
	s := &Store{db: db, dir: dir, prep: prep, read: reader{DB: db, prep: prep}, cp: cp, newDeviceID: o.newDeviceID}
	return s, nil
}

// connOptions says how the store's connections open: one connection a
// pool, since there is one writer and reads are quick on a device; an edit
// reported as saved is on the disk (synchronous FULL); and the file must be
// there by now (MustExist), for SQLite must never make an empty one in its
// place.
func connOptions() sqlitedb.Options {
	return sqlitedb.Options{
		BusyTimeout: 10 * time.Second,
		Pragmas: []string{
			"synchronous(FULL)",
			"foreign_keys(ON)",
			// 8 MiB of page cache per connection (the default is 2 MiB), so
			// that a sync round's answers do not push pages out and read
			// them again.
			"cache_size(-8192)",
			// The sync lane checkpoints after each round (CheckpointSoon);
			// the log checkpoints itself only when rounds stop for long.
			fmt.Sprintf("wal_autocheckpoint(%d)", walBackstop),
			fmt.Sprintf("journal_size_limit(%d)", 16<<20),
		},
		Immediate: true,
		MustExist: true,
		MaxConns:  1,
	}
}

// stamp marks the database as a FieldSync store.
func stamp(db *sql.DB) error {
	var id int64
	if err := db.QueryRow(`PRAGMA application_id`).Scan(&id); err != nil {
		return err
	}
	if id == ApplicationID {
		return nil
	}
	_, err := db.Exec(fmt.Sprintf(`PRAGMA application_id = %d`, ApplicationID))
	return err
}

// The SQLite file format (https://www.sqlite.org/fileformat2.html), and
// the result codes that say a file is not a database or is damaged.
const (
	headerSize    = 100
	sqliteMagic   = "SQLite format 3\x00"
	sqliteCorrupt = 11 // SQLITE_CORRUPT
	sqliteNotADB  = 26 // SQLITE_NOTADB
)

// checkFile says whether the file at path can be opened as a FieldSync
// store, without writing to it. It returns an error wrapping
// os.ErrNotExist when there is no file, and an *UnusableError for a file
// that is not a whole FieldSync store.
func checkFile(path string) error {
	f, err := os.Open(path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return err
		}
		return fmt.Errorf("open store: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return fmt.Errorf("open store: %w", err)
	}
	unusable := func(format string, args ...any) error {
		return &UnusableError{Path: path, Problem: fmt.Sprintf(format, args...)}
	}
	if !fi.Mode().IsRegular() {
		return unusable("is not a file: it is not a FieldSync store")
	}
	size := fi.Size()
	if size == 0 {
		return unusable("is empty (0 bytes): it is not a FieldSync store")
	}
	head := make([]byte, headerSize)
	n, err := io.ReadFull(f, head)
	if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) {
		return fmt.Errorf("open store: read %s: %w", path, err)
	}
	head = head[:n]
	if !bytes.HasPrefix(head, []byte(sqliteMagic)) && !bytes.HasPrefix([]byte(sqliteMagic), head) {
		return unusable("is not an SQLite database: it is not a FieldSync store")
	}
	if n < headerSize {
		return unusable("is cut short (%d bytes, less than a database header): the store is damaged", size)
	}
	pageSize := int64(binary.BigEndian.Uint16(head[16:18]))
	if pageSize == 1 {
		pageSize = 65536
	}
	if pageSize < 512 || pageSize&(pageSize-1) != 0 {
		return unusable("has a damaged header (page size %d): the store is damaged", pageSize)
	}
	// The header's page count is valid when it is not zero and the change
	// counter matches the version-valid-for number (SQLite 3.7.0 and later
	// keep them equal).
	pages := int64(binary.BigEndian.Uint32(head[28:32]))
	if pages != 0 && bytes.Equal(head[24:28], head[92:96]) && size < pages*pageSize {
		// In WAL mode the log may hold pages the file does not have yet:
		// a checkpoint stopped halfway writes the header before the pages.
		// Whatever the log's last commit needs must be in the file or the log.
		need, have := walPages(path+"-wal", pageSize)
		if need == 0 {
			need = uint32(pages)
		}
		short := func() error {
			return unusable("is cut short (%d bytes of %d): the store is damaged", size, int64(need)*pageSize)
		}
		first := size/pageSize + 1 // the first page not wholly in the file
		if int64(need)-first+1 > int64(len(have)) {
			return short()
		}
		for p := first; p <= int64(need); p++ {
			if !have[uint32(p)] {
				return short()
			}
		}
	}
	switch id := binary.BigEndian.Uint32(head[68:72]); id {
	case ApplicationID:
		return nil
	case 0:
		// A store made before the mark, or a database that is not a store.
		return checkTables(path)
	default:
		return unusable("is another application's SQLite database (application id %#x): it is not a FieldSync store", id)
	}
}

// checkTables tells a store made before stores were marked (it has the
// meta and schema_migrations tables) from another application's database.
// A database with no tables at all holds nothing to lose and is taken.
func checkTables(path string) error {
	// Read-only, and without sqlitedb's pragmas: the file is not known to
	// be a store yet, and nothing may be written to it.
	db, err := sql.Open("sqlite", "file:"+path+"?mode=ro&_pragma=busy_timeout(10000)")
	if err != nil {
		return fmt.Errorf("open store: %w", err)
	}
	defer db.Close()
	var all, ours int
	err = db.QueryRow(`SELECT COUNT(*), COUNT(*) FILTER (WHERE type = 'table' AND name IN ('meta', 'schema_migrations')) FROM sqlite_master`).Scan(&all, &ours)
	var se interface{ Code() int }
	if errors.As(err, &se) && (se.Code()&0xff == sqliteCorrupt || se.Code()&0xff == sqliteNotADB) {
		return &UnusableError{Path: path, Problem: fmt.Sprintf("cannot be read as an SQLite database (%v): the store is damaged", err)}
	}
	if err != nil {
		return fmt.Errorf("open store: %w", err) // busy, say: nothing says the file is bad
	}
	if all > 0 && ours < 2 {
		return &UnusableError{Path: path, Problem: "is an SQLite database without FieldSync's tables: it is not a FieldSync store"}
	}
	return nil
}

// walPages reads the write-ahead log at path and returns the database's
// size in pages after the log's last commit (0 when the log holds none) and
// the pages the log holds up to that commit. Frames SQLite would ignore
// (another generation of the log, a bad checksum, after the last commit)
// are ignored.
func walPages(path string, pageSize int64) (uint32, map[uint32]bool) {
	f, err := os.Open(path)
	if err != nil {
		return 0, nil
	}
	defer f.Close()
	var hdr [32]byte
	if _, err := io.ReadFull(f, hdr[:]); err != nil {
		return 0, nil
	}
	var order binary.ByteOrder
	switch binary.BigEndian.Uint32(hdr[0:4]) {
	case 0x377f0682:
		order = binary.LittleEndian
	case 0x377f0683:
		order = binary.BigEndian
	default:
		return 0, nil
	}
	if int64(binary.BigEndian.Uint32(hdr[8:12])) != pageSize {
		return 0, nil
	}
	s0, s1 := walChecksum(order, 0, 0, hdr[:24])
	if s0 != binary.BigEndian.Uint32(hdr[24:28]) || s1 != binary.BigEndian.Uint32(hdr[28:32]) {
		return 0, nil
	}
	var size uint32
	have, pending := map[uint32]bool{}, []uint32{}
	r := bufio.NewReaderSize(f, 1<<16)
	frame := make([]byte, 24+pageSize)
	for {
		if _, err := io.ReadFull(r, frame); err != nil {
			break
		}
		if !bytes.Equal(frame[8:16], hdr[16:24]) {
			break // salts of another generation
		}
		s0, s1 = walChecksum(order, s0, s1, frame[:8])
		s0, s1 = walChecksum(order, s0, s1, frame[24:])
		if s0 != binary.BigEndian.Uint32(frame[16:20]) || s1 != binary.BigEndian.Uint32(frame[20:24]) {
			break
		}
		pending = append(pending, binary.BigEndian.Uint32(frame[0:4]))
		if commit := binary.BigEndian.Uint32(frame[4:8]); commit != 0 {
			size = commit
			for _, p := range pending {
				have[p] = true
			}
			pending = pending[:0]
		}
	}
	return size, have
}

// walChecksum continues the log's running checksum over b.
func walChecksum(order binary.ByteOrder, s0, s1 uint32, b []byte) (uint32, uint32) {
	for i := 0; i+8 <= len(b); i += 8 {
		s0 += order.Uint32(b[i:]) + s1
		s1 += order.Uint32(b[i+4:]) + s0
	}
	return s0, s1
}

// create makes a new, empty store at path. It is built under another name
// in the same directory and renamed into place once whole and on the disk,
// so that a crash while it is made never leaves a half-made file that
// every later Open would refuse.
func create(path string) error {
	dir := filepath.Dir(path)
	removeStaleTemps(dir)
	tmp, err := os.CreateTemp(dir, storeFile+".new-*")
	if err != nil {
		return err
	}
	name := tmp.Name()
	tmp.Close()
	defer os.Remove(name)
	// Not sqlitedb.Open: the new file is built with a rollback journal,
	// not in WAL mode, so that it is whole in itself when linked into
	// place. Open turns WAL on.
	db, err := sql.Open("sqlite", "file:"+name+"?_pragma=busy_timeout(10000)&_pragma=journal_mode(DELETE)&_pragma=synchronous(FULL)")
	if err != nil {
		return err
	}
	db.SetMaxOpenConns(1)
	err = migrate(db)
	if err == nil {
		err = stamp(db)
	}
	if err := errors.Join(err, db.Close()); err != nil {
		return err
	}
	if err := syncFile(name); err != nil {
		return err
	}
	// A link fails if another process made the store meanwhile, where a
	// rename would replace it: then that store is the one to open.
	if err := os.Link(name, path); err != nil {
		if errors.Is(err, os.ErrExist) {
			return nil
		}
		if _, serr := os.Lstat(path); serr == nil {
			return nil
		}
		// No hard links here: a rename does it, a little less carefully.
		if err := os.Rename(name, path); err != nil {
			return err
		}
	}
	return syncDir(dir)
}

// removeStaleTemps removes what an earlier create left behind when it
// stopped: temporary files older than any create still running.
func removeStaleTemps(dir string) {
	old, _ := filepath.Glob(filepath.Join(dir, storeFile+".new-*"))
	for _, name := range old {
		if fi, err := os.Lstat(name); err == nil && time.Since(fi.ModTime()) > time.Hour {
			os.Remove(name)
		}
	}
}

func syncFile(name string) error {
	f, err := os.OpenFile(name, os.O_RDWR, 0)
	if err != nil {
		return err
	}
	return errors.Join(f.Sync(), f.Close())
}
