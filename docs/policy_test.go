package docs

import (
	"bufio"
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/rackwall/rackwall/dataplane/config"
	"github.com/rackwall/rackwall/dataplane/reason"
)

// repoRoot is where paths in POLICY.md are relative to.
const repoRoot = ".."

// policyDoc is POLICY.md cut into its sections, by "## " heading.
type policyDoc struct {
	sections map[string][]string // heading -> lines
}

func readPolicy(t *testing.T) policyDoc {
	t.Helper()
	f, err := os.Open("POLICY.md")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	d := policyDoc{sections: map[string][]string{}}
	heading := ""
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if h, ok := strings.CutPrefix(line, "## "); ok {
			heading = h
			continue
		}
		d.sections[heading] = append(d.sections[heading], line)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return d
}

// section returns a section's lines, failing when it is missing.
func (d policyDoc) section(t *testing.T, heading string) []string {
	t.Helper()
	lines, ok := d.sections[heading]
	if !ok {
		t.Fatalf("POLICY.md has no section %q", heading)
	}
	return lines
}

// tableRows returns the cells of every body row of the markdown tables in
// lines (the header and the |---| line are left out).
func tableRows(lines []string) [][]string {
	var rows [][]string
	inTable := false
	for _, l := range lines {
		if !strings.HasPrefix(l, "|") {
			inTable = false
			continue
		}
		if !inTable { // the header row
			inTable = true
			continue
		}
		if strings.HasPrefix(l, "|---") {
			continue
		}
		cells := strings.Split(strings.Trim(l, "|"), "|")
		for i := range cells {
			cells[i] = strings.TrimSpace(cells[i])
		}
		rows = append(rows, cells)
	}
	return rows
}

// backticked returns the `quoted` items of a table cell.
func backticked(cell string) []string {
	var out []string
	for _, m := range regexp.MustCompile("`([^`]+)`").FindAllStringSubmatch(cell, -1) {
		out = append(out, m[1])
	}
	return out
}

var ruleDef = regexp.MustCompile(`^- \*\*((?:L|H|F|T|Q|FW)[0-9]+)\*\*`)

// definedRules are the rule ids POLICY.md defines, in order.
func definedRules(t *testing.T, d policyDoc) []string {
	t.Helper()
	var ids []string
	for _, h := range []string{"Link layer", "IP headers", "Fragments", "Transport headers", "Filter", "Containment"} {
		for _, l := range d.section(t, h) {
			if m := ruleDef.FindStringSubmatch(l); m != nil {
				ids = append(ids, m[1])
			}
		}
	}
	return ids
}

func TestPolicyDefinesEveryRuleTheCodeNames(t *testing.T) {
	d := readPolicy(t)
	ids := definedRules(t, d)
	for _, want := range []string{"L1", "L3", "H4", "F12", "T3", "FW1", "FW3", "Q4"} {
		if !slices.Contains(ids, want) {
			t.Errorf("POLICY.md does not define %s", want)
		}
	}
	for _, r := range reason.All() {
		if !slices.Contains(ids, r.Rule()) {
			t.Errorf("reason %s names rule %s, which POLICY.md does not define", r, r.Rule())
		}
	}
	for _, k := range config.Knobs() {
		if !slices.Contains(ids, k.Rule) {
			t.Errorf("knob %s names rule %s, which POLICY.md does not define", k.Name, k.Rule)
		}
	}
}

// testFuncs are the names of every Test and Fuzz function in the
// repository's test files.
func testFuncs(t *testing.T) map[string]bool {
	t.Helper()
	funcs := map[string]bool{}
	fset := token.NewFileSet()
	err := filepath.WalkDir(repoRoot, func(path string, e fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if e.IsDir() && (e.Name() == ".git" || e.Name() == "testdata" || e.Name() == "out") {
			return filepath.SkipDir
		}
		if !strings.HasSuffix(path, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(fset, path, nil, parser.SkipObjectResolution)
		if err != nil {
			return err
		}
		for _, decl := range f.Decls {
			if fn, ok := decl.(*ast.FuncDecl); ok && fn.Recv == nil {
				funcs[fn.Name.Name] = true
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return funcs
}

func TestWhereEachRuleLivesIsTrue(t *testing.T) {
	d := readPolicy(t)
	ids := definedRules(t, d)
	funcs := testFuncs(t)
	seen := map[string]bool{}
	for _, row := range tableRows(d.section(t, "Where each rule lives")) {
		if len(row) != 3 {
			t.Errorf("row %q: want rule | code | tests", row)
			continue
		}
		id, code, tests := row[0], backticked(row[1]), backticked(row[2])
		if !slices.Contains(ids, id) {
			t.Errorf("row for %s, which POLICY.md does not define", id)
		}
		if seen[id] {
			t.Errorf("%s has two rows", id)
		}
		seen[id] = true
		if len(code) == 0 || len(tests) == 0 {
			t.Errorf("%s: names no code or no test", id)
		}
		named := false
		word := regexp.MustCompile(`\b` + id + `\b`)
		for _, p := range code {
			b, err := os.ReadFile(filepath.Join(repoRoot, p))
			if err != nil {
				t.Errorf("%s: code %s: %v", id, p, err)
				continue
			}
			named = named || word.Match(b)
		}
		if !named {
			t.Errorf("%s: none of %v mentions %s", id, code, id)
		}
		for _, name := range tests {
			if !funcs[name] {
				t.Errorf("%s: test %s is no function in the repository", id, name)
			}
		}
	}
	for _, id := range ids {
		if !seen[id] {
			t.Errorf("%s has no row in \"Where each rule lives\"", id)
		}
	}
}

// reasonRow is how POLICY.md (and any other document that lists reasons)
// starts a reason's row.
func reasonRow(r reason.Reason) string {
	return "| `" + r.String() + "` | " + r.Rule() + " |"
}

func TestDropReasonsTableIsTheClosedList(t *testing.T) {
	d := readPolicy(t)
	rows := tableRows(d.section(t, "Drop reasons"))
	var names []string
	for _, row := range rows {
		names = append(names, strings.Trim(row[0], "`"))
	}
	all := reason.All()
	for _, r := range all {
		i := slices.Index(names, r.String())
		if i < 0 {
			t.Errorf("no row for reason %s", r)
			continue
		}
		if got := rows[i][1]; got != r.Rule() {
			t.Errorf("reason %s: rule %s in POLICY.md, %s in the code", r, got, r.Rule())
		}
	}
	if len(rows) != len(all) {
		t.Errorf("%d rows for %d reasons", len(rows), len(all))
	}
}

// knobRow is a knob's row as POLICY.md writes it; a range's " | " between
// choices is written " / " inside a table.
func knobRow(k config.Knob) string {
	return "| `" + k.Name + "` | " + k.Rule + " | " + k.Default + " | " +
		strings.ReplaceAll(k.Range(), " | ", " / ") + " | " + k.Description + " |"
}

func TestKnobTableIsTheConfigs(t *testing.T) {
	d := readPolicy(t)
	lines := d.section(t, "Policy knobs")
	knobs := config.Knobs()
	for _, k := range knobs {
		if !slices.Contains(lines, knobRow(k)) {
			t.Errorf("POLICY.md has no row\n%s", knobRow(k))
		}
	}
	if n := len(tableRows(lines)); n != len(knobs) {
		t.Errorf("%d knob rows for %d knobs", n, len(knobs))
	}
}

// POLICY.md holds the reason and knob tables; a document that repeats a row
// of them for its own reader (the README, the manual, a monitoring note)
// must say what the code says.
func TestRepeatedTablesAgreeWithTheCode(t *testing.T) {
	reasons := map[string]reason.Reason{}
	for _, r := range reason.All() {
		reasons[r.String()] = r
	}
	knobs := map[string]config.Knob{}
	for _, k := range config.Knobs() {
		knobs[k.Name] = k
	}
	files := markdownFiles(t, repoRoot)
	for _, must := range []string{"README.md", "docs/MANUAL.md"} {
		if !slices.Contains(files, must) {
			t.Fatalf("the walk did not find %s (found %v): it is broken", must, files)
		}
	}
	for _, name := range files {
		if name == "docs/POLICY.md" { // held to the code row by row above
			continue
		}
		b, err := os.ReadFile(filepath.Join(repoRoot, filepath.FromSlash(name)))
		if err != nil {
			t.Fatal(err)
		}
		for _, row := range tableRows(strings.Split(string(b), "\n")) {
			if len(row) < 2 {
				continue
			}
			key := strings.Trim(row[0], "`")
			if r, ok := reasons[key]; ok && len(row) == 3 && row[1] != r.Rule() {
				t.Errorf("%s: reason %s under rule %s; the code says %s", name, key, row[1], r.Rule())
			}
			if k, ok := knobs[key]; ok && len(row) == 5 {
				want := knobRow(k)
				if got := "| " + strings.Join(row, " | ") + " |"; got != want {
					t.Errorf("%s: knob row\n%s\nthe code says\n%s", name, got, want)
				}
			}
		}
	}
}
