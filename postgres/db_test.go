package postgres_test

import (
	"os"
	"testing"

	"github.com/imprint-iot/imprint/postgres/pgtest"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }
