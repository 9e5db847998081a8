// Package depcheck reads the import graph of rackwall's programs the way the
// image builder compiles them, so tests can hold each program to the
// packages it is meant to link. A binary that quietly grows the web UI or
// the packet engine is larger, slower to start and exposes more code; the
// graph turns such a change into a failing test that names the import chain
// responsible.
package depcheck

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"slices"
	"strings"
)

// Module is the import path of rackwall's Go module.
const Module = "github.com/rackwall/rackwall"

// Graph is the import graph below some root packages: each package's
// direct imports, as resolved by the go command.
type Graph struct {
	imports map[string][]string
}

// Target is a build configuration to read the graph for. The image builds
// with these build tags and without cgo, so the graph matches what is
// linked into the image.
type Target struct {
	GOOS, GOARCH string
}

// ImageTags are the build tags the image builder compiles every program with.
const ImageTags = "gokrazy,netgo,osusergo"

// Load runs `go list -deps` for the packages pkgs under target t.
func Load(t Target, pkgs ...string) (*Graph, error) {
	args := append([]string{"list", "-deps", "-tags", ImageTags, "-json=ImportPath,Imports,Error"}, pkgs...)
	cmd := exec.Command("go", args...)
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS="+t.GOOS, "GOARCH="+t.GOARCH)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("go %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
	}
	return parse(&stdout)
}

// listed is the part of `go list -json` output the graph needs.
type listed struct {
	ImportPath string
	Imports    []string
	Error      *struct{ Err string }
}

// parse reads the stream of JSON objects `go list -json` prints.
func parse(r io.Reader) (*Graph, error) {
	g := &Graph{imports: map[string][]string{}}
	dec := json.NewDecoder(r)
	for {
		var p listed
		err := dec.Decode(&p)
		if errors.Is(err, io.EOF) {
			return g, nil
		}
		if err != nil {
			return nil, fmt.Errorf("go list output: %w", err)
		}
		if p.Error != nil {
			return nil, fmt.Errorf("package %s: %s", p.ImportPath, p.Error.Err)
		}
		g.imports[p.ImportPath] = p.Imports
	}
}

// New builds a graph from explicit edges: package → its direct imports.
func New(imports map[string][]string) *Graph {
	return &Graph{imports: imports}
}

// Deps returns root and every package it imports directly or indirectly,
// sorted.
func (g *Graph) Deps(root string) []string {
	seen := map[string]bool{root: true}
	queue := []string{root}
	for len(queue) > 0 {
		p := queue[0]
		queue = queue[1:]
		for _, q := range g.imports[p] {
			if !seen[q] {
				seen[q] = true
				queue = append(queue, q)
			}
		}
	}
	deps := make([]string, 0, len(seen))
	for p := range seen {
		deps = append(deps, p)
	}
	slices.Sort(deps)
	return deps
}

// Chain returns a shortest import chain from root to target (both
// included), or nil when root does not depend on target. Among chains of
// equal length it takes imports in sorted order, so the answer is stable.
func (g *Graph) Chain(root, target string) []string {
	prev := map[string]string{root: ""}
	queue := []string{root}
	for len(queue) > 0 {
		p := queue[0]
		queue = queue[1:]
		if p == target {
			var chain []string
			for ; p != ""; p = prev[p] {
				chain = append(chain, p)
			}
			slices.Reverse(chain)
			return chain
		}
		next := slices.Clone(g.imports[p])
		slices.Sort(next)
		for _, q := range next {
			if _, ok := prev[q]; !ok {
				prev[q] = p
				queue = append(queue, q)
			}
		}
	}
	return nil
}

// Importers returns the packages in root's graph that import target
// directly, sorted.
func (g *Graph) Importers(root, target string) []string {
	var out []string
	for _, p := range g.Deps(root) {
		if slices.Contains(g.imports[p], target) {
			out = append(out, p)
		}
	}
	return out
}

// FormatChain renders an import chain one package per step, for a test
// failure that shows how a forbidden package got in.
func FormatChain(chain []string) string {
	return strings.Join(chain, "\n\t→ ")
}
