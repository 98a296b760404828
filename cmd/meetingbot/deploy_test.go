package main

// The deployment files (deploy/, the Dockerfile, the docs) must agree with
// what the code does: probe paths the handler serves, variables the config
// reads, and stop timeouts no shorter than a real shutdown.
//
// go.yaml.in/yaml/v3 is a test-only dependency: the binary does not link it.

import (
	"bytes"
	"context"
	"errors"
	"io"
	"io/fs"
	"math"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/meetingbot/meetingbot/metrics"
)

type k8sObject struct {
	APIVersion string `yaml:"apiVersion"`
	Kind       string `yaml:"kind"`
	Metadata   struct {
		Name   string            `yaml:"name"`
		Labels map[string]string `yaml:"labels"`
	} `yaml:"metadata"`
	StringData map[string]string `yaml:"stringData"`
	Resources  []string          `yaml:"resources"` // Kustomization
	Spec       struct {
		Replicas *int `yaml:"replicas"`
		Strategy struct {
			Type          string `yaml:"type"`
			RollingUpdate struct {
				MaxSurge int `yaml:"maxSurge"`
			} `yaml:"rollingUpdate"`
		} `yaml:"strategy"`
		Selector struct {
			MatchLabels map[string]string `yaml:"matchLabels"`
		} `yaml:"selector"`
		Template struct {
			Metadata struct {
				Labels map[string]string `yaml:"labels"`
			} `yaml:"metadata"`
			Spec podSpec `yaml:"spec"`
		} `yaml:"template"`
		// Service
		ServiceSelector map[string]string `yaml:"-"`
		Ports           []struct {
			Name       string `yaml:"name"`
			Port       int    `yaml:"port"`
			TargetPort string `yaml:"targetPort"`
		} `yaml:"ports"`
		// PersistentVolumeClaim
		AccessModes []string `yaml:"accessModes"`
	} `yaml:"spec"`
	path string
}

type podSpec struct {
	TerminationGracePeriodSeconds *int `yaml:"terminationGracePeriodSeconds"`
	SecurityContext               struct {
		RunAsNonRoot bool `yaml:"runAsNonRoot"`
		RunAsUser    int  `yaml:"runAsUser"`
	} `yaml:"securityContext"`
	Containers []struct {
		Name  string   `yaml:"name"`
		Args  []string `yaml:"args"`
		Ports []struct {
			Name          string `yaml:"name"`
			ContainerPort int    `yaml:"containerPort"`
		} `yaml:"ports"`
		EnvFrom []struct {
			SecretRef struct {
				Name string `yaml:"name"`
			} `yaml:"secretRef"`
		} `yaml:"envFrom"`
		Env []struct {
			Name  string `yaml:"name"`
			Value string `yaml:"value"`
		} `yaml:"env"`
		LivenessProbe  *probe `yaml:"livenessProbe"`
		ReadinessProbe *probe `yaml:"readinessProbe"`
		VolumeMounts   []struct {
			Name      string `yaml:"name"`
			MountPath string `yaml:"mountPath"`
		} `yaml:"volumeMounts"`
		SecurityContext struct {
			ReadOnlyRootFilesystem bool `yaml:"readOnlyRootFilesystem"`
		} `yaml:"securityContext"`
	} `yaml:"containers"`
	Volumes []struct {
		Name                  string `yaml:"name"`
		PersistentVolumeClaim *struct {
			ClaimName string `yaml:"claimName"`
		} `yaml:"persistentVolumeClaim"`
	} `yaml:"volumes"`
}

type probe struct {
	HTTPGet struct {
		Path string `yaml:"path"`
		Port string `yaml:"port"`
	} `yaml:"httpGet"`
}

// readK8s parses every YAML document under dir, by directory.
func readK8s(t *testing.T, root string) map[string][]k8sObject {
	t.Helper()
	byDir := map[string][]k8sObject{}
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, ".yaml") {
			return err
		}
		raw, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		dec := yaml.NewDecoder(bytes.NewReader(raw))
		for {
			var o k8sObject
			var generic map[string]any
			if err := dec.Decode(&generic); errors.Is(err, io.EOF) {
				break
			} else if err != nil {
				t.Fatalf("%s does not parse: %v", path, err)
			}
			again, _ := yaml.Marshal(generic)
			if err := yaml.Unmarshal(again, &o); err != nil {
				t.Fatalf("%s: %v", path, err)
			}
			if spec, ok := generic["spec"].(map[string]any); ok && o.Kind == "Service" {
				if sel, ok := spec["selector"].(map[string]any); ok {
					o.Spec.ServiceSelector = map[string]string{}
					for k, v := range sel {
						o.Spec.ServiceSelector[k], _ = v.(string)
					}
				}
			}
			o.path = path
			byDir[filepath.Dir(path)] = append(byDir[filepath.Dir(path)], o)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return byDir
}

func configVars() map[string]bool {
	names := map[string]bool{}
	eachVar(&config{}, func(name string, _ reflect.StructField, _ reflect.Value) { names[name] = true })
	return names
}

func TestTheKubernetesManifestsAgreeWithTheCode(t *testing.T) {
	byDir := readK8s(t, "../../deploy/kubernetes")
	if len(byDir) != 2 {
		t.Fatalf("want the SQLite and the PostgreSQL variants, found %d directories", len(byDir))
	}
	handler := opsHandler(fakeConn(true), pingOK{}, metrics.New("dev", ""))
	vars := configVars()
	grace := int(math.Ceil(shutdownBound.Seconds()))

	for dir, objs := range byDir {
		kinds := map[string][]k8sObject{}
		files := map[string]bool{}
		for _, o := range objs {
			kinds[o.Kind] = append(kinds[o.Kind], o)
			files[filepath.Base(o.path)] = true
		}
		for _, k := range []string{"Kustomization", "Deployment", "Service", "Secret"} {
			if len(kinds[k]) != 1 {
				t.Fatalf("%s: %d %s, want 1", dir, len(kinds[k]), k)
			}
		}
		for _, r := range kinds["Kustomization"][0].Resources {
			if !files[r] {
				t.Errorf("%s: kustomization lists %s, which is not there", dir, r)
			}
			if strings.Contains(r, "secret") {
				t.Errorf("%s: kustomization applies the Secret template %s", dir, r)
			}
		}
		secret := kinds["Secret"][0]
		for k := range secret.StringData {
			if !vars[k] {
				t.Errorf("%s: the Secret has %s, which meetingbot does not read", dir, k)
			}
		}

		d := kinds["Deployment"][0]
		pod := d.Spec.Template.Spec
		if g := pod.TerminationGracePeriodSeconds; g == nil || *g < grace {
			t.Errorf("%s: terminationGracePeriodSeconds unset or shorter than a shutdown (%v)", dir, shutdownBound)
		}
		if !pod.SecurityContext.RunAsNonRoot || pod.SecurityContext.RunAsUser != 65532 {
			t.Errorf("%s: the pod must run as the image's nonroot user 65532", dir)
		}
		if !reflect.DeepEqual(d.Spec.Selector.MatchLabels, d.Spec.Template.Metadata.Labels) {
			t.Errorf("%s: the selector does not match the pod's labels", dir)
		}
		if len(pod.Containers) != 1 {
			t.Fatalf("%s: %d containers", dir, len(pod.Containers))
		}
		c := pod.Containers[0]
		if !reflect.DeepEqual(c.Args, []string{"run"}) || !c.SecurityContext.ReadOnlyRootFilesystem {
			t.Errorf("%s: args %v (want [run]), read-only root %v", dir, c.Args, c.SecurityContext.ReadOnlyRootFilesystem)
		}
		if len(c.EnvFrom) != 1 || c.EnvFrom[0].SecretRef.Name != secret.Metadata.Name {
			t.Errorf("%s: the container does not read the Secret %s", dir, secret.Metadata.Name)
		}
		env := map[string]string{}
		for _, e := range c.Env {
			if !vars[e.Name] {
				t.Errorf("%s: env %s is not a meetingbot variable", dir, e.Name)
			}
			env[e.Name] = e.Value
		}
		ports := map[string]int{}
		for _, p := range c.Ports {
			ports[p.Name] = p.ContainerPort
		}
		_, listenPort, err := net.SplitHostPort(env["MEETINGBOT_HTTP_ADDR"])
		if err != nil || strconv.Itoa(ports["http"]) != listenPort {
			t.Errorf("%s: MEETINGBOT_HTTP_ADDR %q does not listen on the http port %d", dir, env["MEETINGBOT_HTTP_ADDR"], ports["http"])
		}
		for name, p := range map[string]*probe{"liveness": c.LivenessProbe, "readiness": c.ReadinessProbe} {
			if p == nil {
				t.Errorf("%s: no %s probe", dir, name)
				continue
			}
			if _, ok := ports[p.HTTPGet.Port]; !ok {
				t.Errorf("%s: the %s probe's port %q is not a container port", dir, name, p.HTTPGet.Port)
			}
			rec := httptest.NewRecorder()
			handler.ServeHTTP(rec, httptest.NewRequestWithContext(t.Context(), http.MethodGet, p.HTTPGet.Path, nil))
			if rec.Code != http.StatusOK {
				t.Errorf("%s: the %s probe's %s answers %d", dir, name, p.HTTPGet.Path, rec.Code)
			}
		}
		if c.LivenessProbe != nil && c.LivenessProbe.HTTPGet.Path != "/healthz" {
			t.Errorf("%s: liveness must be /healthz: a Slack or database outage must not restart the bot", dir)
		}

		svc := kinds["Service"][0]
		if !reflect.DeepEqual(svc.Spec.ServiceSelector, d.Spec.Template.Metadata.Labels) {
			t.Errorf("%s: the Service selects %v, the pods are %v", dir, svc.Spec.ServiceSelector, d.Spec.Template.Metadata.Labels)
		}
		if len(svc.Spec.Ports) != 1 || svc.Spec.Ports[0].TargetPort != "http" {
			t.Errorf("%s: the Service must target the http port", dir)
		}

		replicas := 1
		if d.Spec.Replicas != nil {
			replicas = *d.Spec.Replicas
		}
		if db, ok := env["MEETINGBOT_DB"]; ok {
			// SQLite: one writer per file.
			if strings.Contains(db, "://") || replicas != 1 || d.Spec.Strategy.Type != "Recreate" {
				t.Errorf("%s: SQLite needs one replica and the Recreate strategy (replicas %d, %s)", dir, replicas, d.Spec.Strategy.Type)
			}
			mounted := false
			for _, m := range c.VolumeMounts {
				for _, v := range pod.Volumes {
					if v.Name == m.Name && v.PersistentVolumeClaim != nil && m.MountPath == filepath.Dir(db) {
						mounted = true
						if len(kinds["PersistentVolumeClaim"]) != 1 || kinds["PersistentVolumeClaim"][0].Metadata.Name != v.PersistentVolumeClaim.ClaimName {
							t.Errorf("%s: the claim %s is not defined here", dir, v.PersistentVolumeClaim.ClaimName)
						}
					}
				}
			}
			if !mounted {
				t.Errorf("%s: %s is not on a persistent volume", dir, db)
			}
		} else {
			// PostgreSQL: the URL holds a password, so it comes from the Secret.
			if !strings.HasPrefix(secret.StringData["MEETINGBOT_DB"], "postgres://") {
				t.Errorf("%s: without MEETINGBOT_DB in env, the Secret must hold a postgres:// URL", dir)
			}
			if 2*(replicas+d.Spec.Strategy.RollingUpdate.MaxSurge) > 10 {
				t.Errorf("%s: %d replicas + %d surge hold more than Slack's 10 Socket Mode connections", dir, replicas, d.Spec.Strategy.RollingUpdate.MaxSurge)
			}
		}
	}
}

type pingOK struct{}

func (pingOK) Ping(context.Context) error { return nil }

// TestStopTimeoutsCoverARealShutdown reads every stop timeout given in the
// project's files and holds it to shutdownBound.
func TestStopTimeoutsCoverARealShutdown(t *testing.T) {
	grace := int(math.Ceil(shutdownBound.Seconds()))
	patterns := map[string]*regexp.Regexp{
		"docker --stop-timeout":         regexp.MustCompile(`--stop-timeout[ =](\d+)`),
		"systemd TimeoutStopSec":        regexp.MustCompile(`TimeoutStopSec=(\d+)`),
		"terminationGracePeriodSeconds": regexp.MustCompile(`terminationGracePeriodSeconds:? (\d+)`),
	}
	found := map[string]int{}
	for _, f := range []string{"../../README.md", "../../docs/DEPLOYMENT.md", "../../Dockerfile", "../../deploy/systemd/meetingbot.service"} {
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for what, re := range patterns {
			for _, m := range re.FindAllStringSubmatch(string(raw), -1) {
				found[what]++
				if n, _ := strconv.Atoi(m[1]); n < grace {
					t.Errorf("%s: %s %d is shorter than a shutdown (%v)", f, what, n, shutdownBound)
				}
			}
		}
	}
	for what := range patterns {
		if found[what] == 0 {
			t.Errorf("no %s found in the docs", what)
		}
	}

	unit, _ := os.ReadFile("../../deploy/systemd/meetingbot.service")
	for _, want := range []string{"RestartPreventExitStatus=2\n", "ExecStart=/usr/local/bin/meetingbot run\n", "KillSignal=SIGTERM\n"} {
		if !strings.Contains(string(unit), want) {
			t.Errorf("the systemd unit lacks %q", strings.TrimSpace(want))
		}
	}
	for _, m := range regexp.MustCompile(`(?m)^Environment=([A-Z_]+)=`).FindAllStringSubmatch(string(unit), -1) {
		if !configVars()[m[1]] {
			t.Errorf("the systemd unit sets %s, which meetingbot does not read", m[1])
		}
	}
}
