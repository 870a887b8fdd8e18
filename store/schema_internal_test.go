package store

import "testing"

// TestMigrationVersions: each migration takes the schema one version up,
// in order. Two with one number would run together on an older file but
// a file written by a build that had only the first would never get the
// second.
func TestMigrationVersions(t *testing.T) {
	for i, m := range migrations {
		if m.version != i+1 {
			t.Errorf("migration %d %q has version %d, want %d", i, m.name, m.version, i+1)
		}
	}
}
