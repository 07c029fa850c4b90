package sqlitedb

import "database/sql"

// Strings reads a query's one text column, as Query returns it, and closes
// the rows: every value, or the first error of the query, a scan or the
// iteration.
func Strings(rows *sql.Rows, err error) ([]string, error) {
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, rows.Err()
}
