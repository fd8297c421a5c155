package postgres_test

import (
	"os"
	"testing"

	"github.com/imprint-iot/imprint/postgres/pgtest"
)

func TestMain(m *testing.M) {
	if dir := os.Getenv("IMPRINT_TEST_LOCAL_HELPER"); dir != "" {
		os.Exit(localHelper(dir)) // a child process of TestLocalAdoptsAfterKill
	}
	os.Exit(pgtest.Main(m))
}
