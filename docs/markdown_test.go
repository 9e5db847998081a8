package docs

import (
	"io/fs"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// skippedDirs hold no documentation of the repository's own: build output,
// version control and other projects' trees.
var skippedDirs = map[string]bool{".git": true, "out": true, "vendor": true, "node_modules": true}

// markdownFiles returns the path of every .md file under root, relative to
// root and with forward slashes.
func markdownFiles(t *testing.T, root string) []string {
	t.Helper()
	var files []string
	err := filepath.WalkDir(root, func(path string, e fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if e.IsDir() && path != root && skippedDirs[e.Name()] {
			return filepath.SkipDir
		}
		if e.IsDir() || !strings.HasSuffix(e.Name(), ".md") {
			return nil
		}
		rel, err := filepath.Rel(root, path)
		if err != nil {
			return err
		}
		files = append(files, filepath.ToSlash(rel))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return files
}

// outsideFences returns a markdown text's lines with those of fenced code
// blocks (and the fences) emptied, so an example in a code block is not
// taken for a heading or a link. Line numbers are kept.
func outsideFences(text string) []string {
	lines := strings.Split(text, "\n")
	fenced := false
	for i, l := range lines {
		fence := strings.HasPrefix(strings.TrimSpace(l), "```")
		if fence {
			fenced = !fenced
		}
		if fence || fenced {
			lines[i] = ""
		}
	}
	return lines
}

// prose is a markdown text with fenced code blocks and inline code spans
// blanked out (newlines kept, so offsets still map to the same lines): what
// is left of link syntax there is a real link.
func prose(text string) string {
	s := strings.Join(outsideFences(text), "\n")
	return codeSpan.ReplaceAllStringFunc(s, func(span string) string {
		return "``" + strings.Repeat("\n", strings.Count(span, "\n"))
	})
}

// codeSpan is an inline code span; it may wrap onto the next line.
var codeSpan = regexp.MustCompile("`[^`]*`")
