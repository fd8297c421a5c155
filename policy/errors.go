package policy

import (
	"strconv"

	"github.com/imprint-iot/imprint"
)

// field returns the path of member name of the element at path.
func field(path, name string) string {
	if path == "" {
		return name
	}
	return path + "." + name
}

// index returns the path of item i of the list at path.
func index(path string, i int) string {
	return path + "[" + strconv.Itoa(i) + "]"
}

// keyPath returns the path of a condition key, which may hold dots.
func keyPath(path, key string) string {
	return path + "[" + strconv.Quote(key) + "]"
}

// quote returns s quoted for a message, cut to a readable length (see
// imprint.Quote).
func quote(s string) string { return imprint.Quote(s) }
