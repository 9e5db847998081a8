package docs

import (
	"fmt"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"unicode"
)

// Every relative link in the repository's markdown leads somewhere: the file
// exists, and an anchor (file.md#heading or #heading) names a heading of
// that file. Documents move between files; a link left pointing at the old
// place fails here instead of in a reader's browser.
func TestMarkdownLinksResolve(t *testing.T) {
	files := markdownFiles(t, repoRoot)
	for _, must := range []string{"README.md", "docs/MANUAL.md", "docs/POLICY.md"} {
		if !slices.Contains(files, must) {
			t.Fatalf("the walk did not find %s (found %v): it is broken", must, files)
		}
	}
	checked := 0
	for _, f := range files {
		n, broken := brokenLinks(repoRoot, f)
		checked += n
		for _, b := range broken {
			t.Error(b)
		}
	}
	if checked < 20 {
		t.Errorf("checked only %d relative links in %d files: the link scan is broken", checked, len(files))
	}
}

// The checker itself: a missing file, a missing heading and a missing
// same-file anchor are each reported, and links that resolve are not.
func TestBrokenLinksFindsEachKind(t *testing.T) {
	root := t.TempDir()
	write := func(name, text string) {
		t.Helper()
		p := filepath.Join(root, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("docs/B.md", "# B\n\n## Updates (A/B)\n\n## `make bench`, twice\n\n## Twice\n\n## Twice\n")
	write("A.md", strings.Join([]string{
		"# A",
		"[ok](docs/B.md) [ok](docs/B.md#updates-ab) [ok](docs/B.md#make-bench-twice)",
		"[ok](docs/B.md#twice-1) [ok](#a) [ok](docs/) [ok](https://example.com/x.md)",
		"[wrapped",
		"text](docs/B.md#updates-ab)",
		"`[in code](nowhere.md)`",
		"```",
		"[in a fence](nowhere.md)",
		"```",
		"[gone](docs/C.md)",
		"[no heading](docs/B.md#updates)",
		"[no anchor](#b)",
		"[gone twice](docs/B.md#twice-2)",
	}, "\n"))
	n, broken := brokenLinks(root, "A.md")
	if n != 11 {
		t.Errorf("checked %d links, want 11 (the code span and the fence hold none)", n)
	}
	want := []string{
		"A.md:10: docs/C.md: no such file",
		"A.md:11: docs/B.md#updates: no heading \"updates\" in docs/B.md",
		"A.md:12: #b: no heading \"b\" in A.md",
		"A.md:13: docs/B.md#twice-2: no heading \"twice-2\" in docs/B.md",
	}
	if strings.Join(broken, "\n") != strings.Join(want, "\n") {
		t.Errorf("broken links:\n%s\nwant:\n%s", strings.Join(broken, "\n"), strings.Join(want, "\n"))
	}
}

// link is an inline markdown link or image: [text](target "title").
var link = regexp.MustCompile(`\[[^\]]*\]\(([^)\s]+)(?:\s+"[^"]*")?\)`)

// brokenLinks checks every relative link in the markdown file name (relative
// to root) and returns how many it checked and one line per broken link.
func brokenLinks(root, name string) (checked int, broken []string) {
	b, err := os.ReadFile(filepath.Join(root, filepath.FromSlash(name)))
	if err != nil {
		return 0, []string{fmt.Sprintf("%s: %v", name, err)}
	}
	text := prose(string(b))
	for _, m := range link.FindAllStringSubmatchIndex(text, -1) {
		target := text[m[2]:m[3]]
		if strings.Contains(target, "://") || strings.HasPrefix(target, "mailto:") {
			continue
		}
		checked++
		line := 1 + strings.Count(text[:m[0]], "\n")
		if problem := resolve(root, name, target); problem != "" {
			broken = append(broken, fmt.Sprintf("%s:%d: %s: %s", name, line, target, problem))
		}
	}
	return checked, broken
}

// resolve says what is wrong with a relative link target in file name, or
// "" when it leads to an existing file (and heading).
func resolve(root, name, target string) string {
	file, anchor, _ := strings.Cut(target, "#")
	dest := name
	if file != "" {
		dest = path.Join(path.Dir(name), file)
		if _, err := os.Stat(filepath.Join(root, filepath.FromSlash(dest))); err != nil {
			return "no such file"
		}
	}
	if anchor == "" || !strings.HasSuffix(dest, ".md") {
		return ""
	}
	b, err := os.ReadFile(filepath.Join(root, filepath.FromSlash(dest)))
	if err != nil {
		return err.Error()
	}
	if !slices.Contains(anchors(string(b)), anchor) {
		return fmt.Sprintf("no heading %q in %s", anchor, dest)
	}
	return ""
}

var heading = regexp.MustCompile(`^#{1,6}\s+(.*?)\s*#*\s*$`)

// anchors are the ids a markdown renderer gives a document's headings, the
// way GitHub makes them: lower case, punctuation dropped, spaces to
// hyphens, and "-1", "-2", … after a repeated one.
func anchors(text string) []string {
	var ids []string
	seen := map[string]int{}
	for _, l := range outsideFences(text) {
		m := heading.FindStringSubmatch(l)
		if m == nil {
			continue
		}
		id := slug(m[1])
		if n := seen[id]; n > 0 {
			ids = append(ids, fmt.Sprintf("%s-%d", id, n))
		} else {
			ids = append(ids, id)
		}
		seen[id]++
	}
	return ids
}

func slug(h string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(h) {
		switch {
		case r == ' ':
			b.WriteRune('-')
		case r == '-' || r == '_' || unicode.IsLetter(r) || unicode.IsDigit(r):
			b.WriteRune(r)
		}
	}
	return b.String()
}
