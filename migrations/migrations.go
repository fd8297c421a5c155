// Package migrations holds Imprint's database schema as numbered SQL files,
// applied in order by golang-migrate through the postgres package.
package migrations

import "embed"

// FS holds the migration files, named NNNNNN_title.up.sql and .down.sql.
//
//go:embed *.sql
var FS embed.FS
