package policy

import (
	"strconv"
	"sync"
	"testing"

	"github.com/imprint-iot/imprint"
)

func TestCache(t *testing.T) {
	var c Cache
	const v1 = `{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"iot:Connect","Resource":"*"}}`
	const v2 = `{"Version":"2012-10-17","Statement":{"Effect":"Deny","Action":"iot:Connect","Resource":"*"}}`
	p1, err := c.Compile("p", "1", v1)
	if err != nil {
		t.Fatal(err)
	}
	if p1.Name() != "p" || p1.Version() != "1" {
		t.Errorf("Compile() = %s version %s, want p version 1", p1.Name(), p1.Version())
	}
	again, err := c.Compile("p", "1", v2) // a cached version is not compiled again
	if err != nil || again != p1 {
		t.Errorf("Compile(p, 1) again = %p, %v, want the cached %p", again, err, p1)
	}
	p2, err := c.Compile("p", "2", v2)
	if err != nil || p2 == p1 || p2.Version() != "2" {
		t.Errorf("Compile(p, 2) = %v, %v, want a new policy of version 2", p2, err)
	}
	if got, ok := c.Get("p", "2"); !ok || got != p2 {
		t.Errorf("Get(p, 2) = %v, %v, want %v", got, ok, p2)
	}
	if _, err := c.Compile("q", "1", `{}`); imprint.ErrorKind(err) != imprint.Invalid {
		t.Errorf("Compile(invalid) error = %v, want Invalid", err)
	}
	if _, ok := c.Get("q", "1"); ok || c.Len() != 2 {
		t.Errorf("an invalid document was cached (Len() = %d)", c.Len())
	}
	c.Remove("p", "1")
	if _, ok := c.Get("p", "1"); ok || c.Len() != 1 {
		t.Errorf("Remove(p, 1) left it (Len() = %d)", c.Len())
	}
	c.Add(mustCompile(t, "other", v1))
	c.RemovePolicy("p")
	if _, ok := c.Get("p", "2"); ok || c.Len() != 1 {
		t.Errorf("RemovePolicy(p) left version 2 (Len() = %d)", c.Len())
	}
}

func TestCacheEviction(t *testing.T) {
	c := NewCache(3)
	const d = `{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"iot:Connect","Resource":"*"}}`
	for i := range 10 {
		if _, err := c.Compile("p", strconv.Itoa(i), d); err != nil {
			t.Fatal(err)
		}
		if n := c.Len(); n > 3 {
			t.Fatalf("Len() = %d, want at most 3", n)
		}
	}
	if _, ok := c.Get("p", "9"); !ok {
		t.Errorf("Get(p, 9) = false, want the last policy added")
	}
}

func TestCacheConcurrent(t *testing.T) {
	c := NewCache(8)
	const d = `{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"iot:Connect","Resource":"*"}}`
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 200 {
				v := strconv.Itoa((i + g) % 12)
				p, err := c.Compile("p", v, d)
				if err != nil || p.Version() != v {
					t.Errorf("Compile(p, %s) = %v, %v", v, p, err)
					return
				}
				c.Get("p", v)
			}
		}()
	}
	wg.Wait()
}
