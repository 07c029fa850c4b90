package rawpg

import (
	"testing"

	"github.com/jackc/pgx/v5"

	"fieldsync/internal/pgtest"
)

// BenchmarkRates reports the server's raw insert rates:
// go test -run '^$' -bench . ./internal/rawpg with FIELDSYNC_PG_DSN set.
func BenchmarkRates(b *testing.B) {
	dsn := pgtest.DSN(b)
	var batched, copied float64
	n := 0
	for b.Loop() {
		bt, cp := Rates(b, dsn)
		batched += bt
		copied += cp
		n++
	}
	b.ReportMetric(batched/float64(n), "batched-rows/s")
	b.ReportMetric(copied/float64(n), "copy-rows/s")
}

func TestRatesLeaveNoTableBehind(t *testing.T) {
	dsn := pgtest.DSN(t)
	batched, copied := Rates(t, dsn)
	if batched <= 0 || copied <= 0 {
		t.Errorf("rates %v batched, %v copy rows/s; want both above zero", batched, copied)
	}
	conn, err := pgx.Connect(t.Context(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(t.Context())
	var tables int
	if err := conn.QueryRow(t.Context(), `SELECT count(*) FROM pg_tables WHERE schemaname = 'public'`).Scan(&tables); err != nil {
		t.Fatal(err)
	}
	if tables != 0 {
		t.Errorf("%d tables left in the database after measuring; want none", tables)
	}
}

func TestRowsAreShapedLikeRecords(t *testing.T) {
	data := makeRows()
	if len(data) != rows || rows%batch != 0 {
		t.Fatalf("%d rows in batches of %d; want %d, a whole number of batches", len(data), batch, rows)
	}
	ids := make(map[string]bool, len(data))
	for _, r := range data {
		id := r[0].(string)
		if ids[id] {
			t.Fatalf("id %s made twice", id)
		}
		ids[id] = true
		if doc := r[3].([]byte); len(doc) < 280 || len(doc) > 320 {
			t.Fatalf("document of %d bytes; want about 300", len(doc))
		}
	}
}
