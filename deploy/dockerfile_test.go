package deploy

import (
	"encoding/json"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// instruction is one logical Dockerfile line.
type instruction struct {
	line int
	cmd  string // upper-cased
	args string
}

// parseDockerfile splits a Dockerfile into instructions: comments and
// blank lines dropped, backslash continuations joined (comment lines inside
// a continuation are skipped, as Docker does).
func parseDockerfile(t *testing.T, src string) []instruction {
	t.Helper()
	var out []instruction
	var cur strings.Builder
	start := 0
	for i, raw := range strings.Split(src, "\n") {
		l := strings.TrimSpace(raw)
		if l == "" || strings.HasPrefix(l, "#") {
			continue
		}
		if cur.Len() == 0 {
			start = i + 1
		}
		if strings.HasSuffix(l, "\\") {
			cur.WriteString(strings.TrimSuffix(l, "\\") + " ")
			continue
		}
		cur.WriteString(l)
		cmd, args, _ := strings.Cut(cur.String(), " ")
		out = append(out, instruction{start, strings.ToUpper(cmd), strings.TrimSpace(args)})
		cur.Reset()
	}
	if cur.Len() != 0 {
		t.Errorf("Dockerfile ends inside a line continuation")
	}
	return out
}

var (
	knownInstructions = []string{"FROM", "ARG", "WORKDIR", "COPY", "ADD", "RUN", "ENV", "USER", "EXPOSE", "ENTRYPOINT", "CMD", "LABEL", "VOLUME", "HEALTHCHECK", "STOPSIGNAL", "SHELL", "ONBUILD"}
	varRE             = regexp.MustCompile(`\$\{?([A-Za-z_][A-Za-z0-9_]*)`)
	// Build args BuildKit predefines for FROM lines and (when redeclared) stages.
	platformArgs = []string{"BUILDPLATFORM", "TARGETPLATFORM", "BUILDOS", "BUILDARCH", "TARGETOS", "TARGETARCH", "TARGETVARIANT"}
)

// TestDockerfile checks deploy/Dockerfile without a Docker engine (none in
// CI): known instructions, ARG scoping of every variable, exec-form
// ENTRYPOINT/CMD, stage references, a static CGO-free build of
// ./cmd/shadowcast with go.mod's Go version, and a final distroless,
// non-root stage exposing the ports the manifests use.
func TestDockerfile(t *testing.T) {
	b, err := os.ReadFile("Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	ins := parseDockerfile(t, string(b))
	if len(ins) == 0 {
		t.Fatal("empty Dockerfile")
	}

	gomod, err := os.ReadFile("../go.mod")
	if err != nil {
		t.Fatal(err)
	}
	goVersion := regexp.MustCompile(`(?m)^go (\S+)$`).FindSubmatch(gomod)
	if goVersion == nil {
		t.Fatal("no go directive in go.mod")
	}

	var (
		global    = map[string]bool{} // ARGs before the first FROM
		scope     map[string]bool     // ARGs (and ENV) of the current stage
		stages    []string
		finalFrom string
		user      string
		exposed   []string
		sawCGO    bool
		exec      = map[string][]string{}
	)
	for i, in := range ins {
		if !slices.Contains(knownInstructions, in.cmd) {
			t.Errorf("line %d: unknown instruction %s", in.line, in.cmd)
			continue
		}
		if i == 0 && in.cmd != "FROM" && in.cmd != "ARG" {
			t.Errorf("line %d: only ARG may precede the first FROM, got %s", in.line, in.cmd)
		}
		// Variables must be declared in scope.
		if in.cmd != "ARG" && in.cmd != "FROM" && in.cmd != "ENTRYPOINT" && in.cmd != "CMD" {
			for _, m := range varRE.FindAllStringSubmatch(in.args, -1) {
				if scope == nil || !scope[m[1]] {
					t.Errorf("line %d: $%s is not declared in this stage (ARG/ENV)", in.line, m[1])
				}
			}
		}
		switch in.cmd {
		case "ARG":
			name, def, _ := strings.Cut(in.args, "=")
			if scope == nil {
				global[name] = true
				if name == "GO_VERSION" && def != string(goVersion[1]) {
					t.Errorf("line %d: GO_VERSION %q, go.mod says go %s", in.line, def, goVersion[1])
				}
			} else {
				scope[name] = true
			}
		case "ENV":
			name, _, _ := strings.Cut(in.args, "=")
			scope[strings.Fields(name)[0]] = true
		case "FROM":
			for _, m := range varRE.FindAllStringSubmatch(in.args, -1) {
				if !global[m[1]] && !slices.Contains(platformArgs, m[1]) {
					t.Errorf("line %d: $%s in FROM is not a global ARG", in.line, m[1])
				}
			}
			f := strings.Fields(in.args)
			if n := len(f); n >= 3 && strings.EqualFold(f[n-2], "AS") {
				stages = append(stages, f[n-1])
				f = f[:n-2]
			}
			finalFrom = f[len(f)-1]
			scope = map[string]bool{}
			user = ""
			exposed = nil
		case "COPY":
			for _, f := range strings.Fields(in.args) {
				if from, ok := strings.CutPrefix(f, "--from="); ok && !slices.Contains(stages, from) {
					t.Errorf("line %d: COPY --from=%s names no earlier stage", in.line, from)
				}
			}
		case "RUN":
			if strings.Contains(in.args, "go build") {
				sawCGO = strings.Contains(in.args, "CGO_ENABLED=0")
				if !strings.Contains(in.args, "./cmd/shadowcast") {
					t.Errorf("line %d: the build does not build ./cmd/shadowcast", in.line)
				}
			}
		case "USER":
			user = in.args
		case "EXPOSE":
			exposed = append(exposed, strings.Fields(in.args)...)
		case "ENTRYPOINT", "CMD":
			var argv []string
			if err := json.Unmarshal([]byte(in.args), &argv); err != nil {
				t.Errorf("line %d: %s is not in exec (JSON array) form: %v", in.line, in.cmd, err)
			}
			exec[in.cmd] = argv
		}
	}
	if _, err := os.Stat("../cmd/shadowcast"); err != nil {
		t.Errorf("build target: %v", err)
	}
	if !sawCGO {
		t.Error("no `go build` with CGO_ENABLED=0: the binary would not be static")
	}
	if !strings.HasPrefix(finalFrom, "gcr.io/distroless/static") || !strings.HasSuffix(finalFrom, ":nonroot") {
		t.Errorf("final stage FROM %s, want gcr.io/distroless/static*:nonroot", finalFrom)
	}
	if u, _, _ := strings.Cut(user, ":"); u == "" || u == "0" || u == "root" {
		t.Errorf("final stage USER %q, want a non-root user", user)
	}
	if !slices.Equal(exec["ENTRYPOINT"], []string{"/bin/shadowcast"}) {
		t.Errorf("ENTRYPOINT %q", exec["ENTRYPOINT"])
	}
	// The image's default command and ports are the Deployment's.
	dep := readDeploymentContainer(t)
	if !slices.Equal(exec["CMD"], dep.Args) {
		t.Errorf("CMD %q differs from the Deployment's args %q", exec["CMD"], dep.Args)
	}
	var ports []string
	for _, p := range dep.Ports {
		ports = append(ports, p.ContainerPort)
	}
	if !slices.Equal(exposed, ports) {
		t.Errorf("EXPOSE %v, the Deployment's container ports are %v", exposed, ports)
	}
}

type container struct {
	Args  []string `yaml:"args"`
	Ports []struct {
		ContainerPort string `yaml:"containerPort"`
	} `yaml:"ports"`
}

func readDeploymentContainer(t *testing.T) container {
	t.Helper()
	var dep struct {
		Spec struct {
			Template struct {
				Spec struct {
					Containers []container `yaml:"containers"`
				} `yaml:"spec"`
			} `yaml:"template"`
		} `yaml:"spec"`
	}
	b, err := os.ReadFile("base/deployment.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if err := yamlUnmarshal(b, &dep); err != nil {
		t.Fatal(err)
	}
	if len(dep.Spec.Template.Spec.Containers) == 0 {
		t.Fatal("no container in base/deployment.yaml")
	}
	return dep.Spec.Template.Spec.Containers[0]
}
